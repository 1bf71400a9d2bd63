from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.utils import timezone

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Reason, Status
from feedbackportal.leads.models import Lead
from feedbackportal.sandbox.models import SandboxCall

live_db = pytest.mark.django_db(transaction=True)


def run_from_command_line(*args: str) -> None:
    """As manage.py runs it: a CommandError becomes a message on stderr and the exit status."""
    command = load_command_class("feedbackportal.feedback", "send_feedback")
    command.run_from_argv(["manage.py", "send_feedback", *args])


def send(*args: str) -> str:
    out = StringIO()
    call_command("send_feedback", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@live_db
def test_an_accepted_feedback_exits_zero_and_says_accepted(sandbox_url, lead_with_event, run_worker):
    output = send(lead_with_event.event_id, "--type", "return", "--reason", "Wrong number")

    assert "Status: Accepted" in output
    assert "Accepted by LeadConduit." in output
    assert SandboxCall.objects.count() == 1
    run_worker()  # the task the service enqueued finds it already delivered
    assert SandboxCall.objects.count() == 1


@live_db
def test_it_goes_through_the_portals_service(sandbox_url, lead_with_event):
    send(
        lead_with_event.event_id.upper(), "--type", "return", "--reason", "Did not request information", "--note", "cli"
    )

    feedback = Feedback.objects.get()
    assert feedback.lead == lead_with_event
    assert feedback.reason == Reason.objects.get(label="Did not request information")
    assert feedback.reason_text == "Consumer did not request information"
    assert feedback.note == "cli"
    assert feedback.status == Status.ACCEPTED
    assert feedback.task_id
    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.response_status == 201
    assert SandboxCall.objects.get().body == attempt.request_body


@live_db
def test_a_reason_can_be_named_by_the_text_it_sends(sandbox_url, lead_with_event):
    send(lead_with_event.event_id, "--type", "return", "--reason", "consumer did not request information")

    assert Feedback.objects.get().reason.label == "Did not request information"


@live_db
def test_a_conversion_needs_no_reason(sandbox_url, lead_with_event):
    output = send(lead_with_event.event_id, "--type", "conversion")

    assert "Status: Accepted" in output
    assert SandboxCall.objects.get().body == '{"type": "conversion"}'


@live_db
def test_a_rejected_feedback_exits_non_zero_with_leadconduits_reason(sandbox_url, make_event, make_lead):
    event = make_event(return_window_days=7, created_at=timezone.now() - timedelta(days=10))
    make_lead(event_id=event.event_id)
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("send_feedback", event.event_id, "--type", "return", "--reason", "Wrong number", stdout=out)

    assert failed.value.returncode == 1
    assert "Must provide return within 7 days" in out.getvalue()
    assert Feedback.objects.get().status == Status.REJECTED


@live_db
def test_the_real_command_line_exits_with_status_one_when_not_accepted(sandbox_url, make_event, make_lead, capsys):
    event = make_event(feedback_enabled=False)
    make_lead(event_id=event.event_id)

    with pytest.raises(SystemExit) as exited:
        run_from_command_line(event.event_id, "--type", "return", "--reason", "Wrong number")

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "Feedback is forbidden" in captured.out
    assert "did not accept" in captured.err


@live_db
def test_the_real_command_line_exits_zero_when_accepted(sandbox_url, lead_with_event, capsys):
    run_from_command_line(lead_with_event.event_id, "--type", "return", "--reason", "Wrong number")

    assert "Status: Accepted" in capsys.readouterr().out


@live_db
def test_an_event_unknown_to_the_portal_gets_a_lead_filled_from_the_reply(sandbox_url, make_event):
    event = make_event(first_name="Joe", last_name="Blow", email="Joe.Blow@Example.com", phone_1="(512) 555-1212")

    output = send(event.event_id, "--type", "return", "--reason", "Wrong number")

    assert "Status: Accepted" in output
    lead = Lead.objects.get(event_id=event.event_id)
    assert (lead.first_name, lead.last_name, lead.email) == ("Joe", "Blow", "joe.blow@example.com")
    assert lead.phone_digits == "5125551212"
    assert lead.leadconduit_id == event.lead_id


@live_db
def test_a_feedback_leadconduit_could_not_take_yet_exits_non_zero_and_says_it_will_retry(fault_url, lead_with_event):
    fault_url("503")
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command(
            "send_feedback",
            lead_with_event.event_id,
            "--type",
            "return",
            "--reason",
            "Wrong number",
            "--wait",
            "0",
            stdout=out,
        )

    assert failed.value.returncode == 1
    assert "Trying again automatically" in out.getvalue()
    assert Feedback.objects.get().status == Status.RETRYING


@pytest.mark.django_db
def test_an_unknown_reason_is_refused_with_the_active_reasons_listed(lead_with_event):
    Reason.objects.filter(label="Language barrier").update(active=False)

    with pytest.raises(CommandError) as failed:
        send(lead_with_event.event_id, "--type", "return", "--reason", "Bogus")

    message = str(failed.value)
    assert '"Bogus" is not an active return reason' in message
    assert '"Wrong number"' in message
    assert '"Duplicate lead"' in message
    assert "Language barrier" not in message
    assert "Sale closed" not in message
    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_a_reason_of_the_other_type_is_refused(lead_with_event):
    with pytest.raises(CommandError, match="not an active conversion reason"):
        send(lead_with_event.event_id, "--type", "conversion", "--reason", "Wrong number")

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_a_return_without_a_reason_is_refused(lead_with_event):
    with pytest.raises(CommandError, match="Choose a reason"):
        send(lead_with_event.event_id, "--type", "return")

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_a_malformed_event_id_is_refused():
    with pytest.raises(CommandError, match="24 characters"):
        send("not-an-event", "--type", "return", "--reason", "Wrong number")

    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_a_second_live_return_is_refused_and_nothing_is_sent(closed_port_url, lead_with_event, return_reason):
    Feedback.objects.create(lead=lead_with_event, feedback_type="return", reason=return_reason, status=Status.ACCEPTED)

    with pytest.raises(CommandError, match="already has a return"):
        send(lead_with_event.event_id, "--type", "return", "--reason", "Wrong number")

    assert Feedback.objects.count() == 1
    assert not DeliveryAttempt.objects.exists()
