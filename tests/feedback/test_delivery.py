import json
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models.signals import pre_save
from django.utils import timezone

from feedbackportal.feedback import delivery
from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Reason, Status
from feedbackportal.feedback.services import submit_feedback, submit_feedback_for_event
from feedbackportal.feedback.tasks import deliver, deliver_now
from feedbackportal.leadconduit import (
    Classification,
    Exchange,
    FeedbackResult,
    LeadConduitError,
    LeadData,
    Outcome,
    Reply,
)
from feedbackportal.leads.models import Lead
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import make_due, reload

live_db = pytest.mark.django_db(transaction=True)


def submit_return(lead, reason) -> Feedback:
    return submit_feedback(lead=lead, feedback_type="return", reason=reason)


@live_db
def test_a_feedback_inside_its_undo_window_is_not_claimed_even_by_an_early_task(
    sandbox_url, lead_with_event, return_reason
):
    feedback = submit_return(lead_with_event, return_reason)
    Feedback.objects.filter(pk=feedback.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    assert deliver_now(feedback.pk) == Status.QUEUED
    assert reload(feedback).attempt_count == 0
    assert SandboxCall.objects.count() == 0


def wait_for_calls(count: int, timeout: float = 5.0) -> None:
    """The sandbox records a call only when it answers; a slow answer lands after the client gave up."""
    deadline = time.monotonic() + timeout
    while SandboxCall.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)


@live_db
def test_an_accepted_feedback_is_recorded_with_the_whole_exchange(
    sandbox_url, lead_with_event, return_reason, run_worker
):
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.ACCEPTED
    assert feedback.outcome == "success"
    assert feedback.outcome_reason == ""
    assert feedback.answered_at is not None
    assert feedback.attempt_count == 1
    assert feedback.next_attempt_at is None
    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.number == 1
    assert attempt.request_method == "POST"
    assert attempt.request_url == f"{sandbox_url}?event_id={lead_with_event.event_id}"
    assert attempt.request_headers["Content-Type"] == "application/json"
    assert json.loads(attempt.request_body) == {"type": "return", "reason": "Wrong number"}
    assert attempt.response_status == 201
    assert json.loads(attempt.response_body)["outcome"] == "success"
    assert attempt.response_headers["Content-Type"].startswith("application/json")
    assert not attempt.response_truncated
    assert attempt.duration_ms is not None
    assert attempt.finished_at >= attempt.started_at
    assert attempt.classification == "answered"
    assert attempt.outcome == "success"
    assert attempt.error == ""
    call = SandboxCall.objects.get()
    assert call.event_id == lead_with_event.event_id
    assert call.body == attempt.request_body


@live_db
def test_a_return_after_the_sellers_window_is_rejected_with_leadconduits_reason(
    sandbox_url, make_event, make_lead, return_reason, run_worker
):
    event = make_event(return_window_days=7, created_at=timezone.now() - timedelta(days=10))
    feedback = submit_return(make_lead(event_id=event.event_id), return_reason)

    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.REJECTED
    assert feedback.outcome == "failure"
    assert feedback.outcome_reason == "Must provide return within 7 days"
    assert feedback.answered_at is not None
    assert "Must provide return within 7 days" in feedback.agent_message
    assert DeliveryAttempt.objects.get(feedback=feedback).outcome == "failure"


@live_db
def test_an_error_outcome_ends_in_status_error(fault_url, lead_with_event, return_reason, run_worker):
    fault_url("error")
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.ERROR
    assert feedback.outcome == "error"
    assert feedback.outcome_reason == "An unexpected error occurred"
    assert "An unexpected error occurred" in feedback.status_message
    assert SandboxCall.objects.count() == 1


@live_db
def test_forbidden_feedback_is_rejected_with_leadconduits_reason(
    sandbox_url, make_event, make_lead, return_reason, run_worker
):
    event = make_event(feedback_enabled=False)
    feedback = submit_return(make_lead(event_id=event.event_id), return_reason)

    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.REJECTED
    assert feedback.outcome_reason == "Feedback is forbidden"
    assert DeliveryAttempt.objects.get(feedback=feedback).response_status == 409


@live_db
@pytest.mark.parametrize("fault", ["500", "502", "garbage", "html", "empty", "bomb", "huge"])
def test_an_answer_we_cannot_trust_leaves_the_feedback_unconfirmed_and_never_resends_it(
    fault_url, lead_with_event, return_reason, run_worker, fault
):
    fault_url(fault)
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()
    make_due(feedback)
    run_worker()
    deliver_now(feedback.pk)

    feedback = reload(feedback)
    assert feedback.status == Status.UNCONFIRMED
    assert feedback.next_attempt_at is None
    assert "may have been recorded" in feedback.status_message or "could not be read" in feedback.status_message
    assert SandboxCall.objects.count() == 1
    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.classification == "unknown"
    assert attempt.error


@live_db
def test_a_read_timeout_leaves_the_feedback_unconfirmed_and_never_resends_it(
    fault_url, settings, lead_with_event, return_reason, run_worker
):
    settings.LEADCONDUIT_TIMEOUT = 0.3
    fault_url("slow", "?delay=0.8")
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()
    wait_for_calls(1)
    make_due(feedback)
    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.UNCONFIRMED
    assert "did not answer in time" in feedback.status_message
    assert DeliveryAttempt.objects.filter(feedback=feedback).count() == 1
    assert SandboxCall.objects.count() == 1


@live_db
@pytest.mark.parametrize("failure", ["503", "429", "refused"])
def test_a_feedback_that_did_not_reach_leadconduit_is_retried_when_due_then_given_up(
    fault_url, closed_port_url, settings, lead_with_event, return_reason, run_worker, failure
):
    settings.LEADCONDUIT_MAX_ATTEMPTS = 3
    if failure != "refused":
        fault_url(failure)

    def calls() -> int:
        if failure == "refused":
            return DeliveryAttempt.objects.count()
        return SandboxCall.objects.count()

    feedback = submit_return(lead_with_event, return_reason)

    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.RETRYING
    assert feedback.next_attempt_at > timezone.now()
    if failure == "429":  # LeadConduit's Retry-After: 7 is honoured
        assert feedback.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert feedback.outcome == ""
    assert feedback.answered_at is None
    assert calls() == 1

    run_worker()  # not due yet: nothing is sent
    assert calls() == 1
    assert reload(feedback).status == Status.RETRYING

    make_due(feedback)
    run_worker()
    assert calls() == 2
    assert reload(feedback).status == Status.RETRYING

    make_due(feedback)
    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.FAILED
    assert feedback.next_attempt_at is None
    assert feedback.attempt_count == 3
    assert "after 3 tries" in feedback.agent_message
    assert calls() == 3

    make_due(feedback)
    run_worker()
    assert calls() == 3
    attempts = list(DeliveryAttempt.objects.filter(feedback=feedback))
    assert [attempt.number for attempt in attempts] == [1, 2, 3]
    assert {attempt.classification for attempt in attempts} == {"not_sent"}


@live_db
def test_a_retried_feedback_that_gets_through_is_accepted(
    fault_url, sandbox_url, settings, lead_with_event, return_reason, run_worker
):
    fault_url("503")
    feedback = submit_return(lead_with_event, return_reason)
    run_worker()
    assert reload(feedback).status == Status.RETRYING

    settings.LEADCONDUIT_FEEDBACK_URL = sandbox_url
    make_due(feedback)
    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.ACCEPTED
    assert feedback.attempt_count == 2
    assert feedback.status_message == ""
    assert SandboxCall.objects.count() == 2


@live_db
def test_a_placeholder_lead_is_filled_in_from_leadconduits_reply(sandbox_url, make_event, return_reason, run_worker):
    event = make_event(first_name="Joe", last_name="Blow", email="Joe.Blow@Example.com", phone_1="(512) 555-1212")
    feedback = submit_feedback_for_event(event_id=event.event_id, feedback_type="return", reason=return_reason)
    assert feedback.lead.is_placeholder

    run_worker()

    lead = Lead.objects.get(event_id=event.event_id)
    assert reload(feedback).status == Status.ACCEPTED
    assert lead.leadconduit_id == event.lead_id
    assert (lead.first_name, lead.last_name) == ("Joe", "Blow")
    assert lead.email == "joe.blow@example.com"
    assert lead.phone == "5125551212"
    assert lead.phone_digits == "5125551212"
    assert Lead.objects.search("512-555-1212").get() == lead


@live_db
def test_an_existing_leads_data_is_not_overwritten_by_leadconduits_reply(
    sandbox_url, make_event, make_lead, return_reason, run_worker
):
    event = make_event(first_name="Joe", last_name="Blow", email="joe@example.com", phone_1="5125551212")
    lead = make_lead(event_id=event.event_id, first_name="Joseph", last_name="Blow-Smith", email="", phone="")
    feedback = submit_return(lead, return_reason)

    run_worker()

    lead.refresh_from_db()
    assert reload(feedback).status == Status.ACCEPTED
    assert (lead.first_name, lead.last_name) == ("Joseph", "Blow-Smith")
    assert lead.email == "joe@example.com"  # blank fields are filled in
    assert lead.leadconduit_id == event.lead_id


@live_db
def test_delivering_one_feedback_twice_sends_it_once(sandbox_url, lead_with_event, return_reason, run_worker):
    feedback = submit_return(lead_with_event, return_reason)

    assert deliver_now(feedback.pk) == Status.ACCEPTED
    assert deliver_now(feedback.pk) == Status.ACCEPTED
    run_worker()

    assert SandboxCall.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1
    assert reload(feedback).attempt_count == 1


@live_db
def test_two_workers_delivering_one_feedback_at_once_send_it_once(sandbox_url, lead_with_event, return_reason):
    feedback = submit_return(lead_with_event, return_reason)
    start = threading.Barrier(2)
    results: list[str] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(deliver_now(feedback.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 2
    assert Status.ACCEPTED in results  # the other one found it sending or already accepted
    assert SandboxCall.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1


@live_db
def test_a_stray_task_does_not_send_a_retrying_feedback_before_it_is_due(
    fault_url, lead_with_event, return_reason, run_worker
):
    fault_url("503")
    feedback = submit_return(lead_with_event, return_reason)
    run_worker()
    retry_at = reload(feedback).next_attempt_at

    deliver.enqueue(feedback.pk)
    run_worker()
    assert deliver_now(feedback.pk) == Status.RETRYING

    feedback = reload(feedback)
    assert feedback.status == Status.RETRYING
    assert feedback.next_attempt_at == retry_at
    assert feedback.attempt_count == 1
    assert SandboxCall.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [Status.SENDING, Status.ACCEPTED, Status.REJECTED, Status.ERROR, Status.UNCONFIRMED, Status.FAILED]
)
def test_a_feedback_not_waiting_to_be_sent_is_left_alone(closed_port_url, lead_with_event, return_reason, status):
    feedback = submit_return(lead_with_event, return_reason)
    Feedback.objects.filter(pk=feedback.pk).update(status=status)

    assert deliver_now(feedback.pk) == status

    assert not DeliveryAttempt.objects.exists()
    assert reload(feedback).attempt_count == 0


@pytest.mark.django_db
def test_delivering_a_missing_feedback_does_nothing():
    assert deliver_now(123456) == "missing"
    assert not DeliveryAttempt.objects.exists()


@live_db
def test_the_attempt_is_committed_before_leadconduit_receives_the_call(
    sandbox_url, lead_with_event, return_reason, run_worker
):
    feedback = submit_return(lead_with_event, return_reason)
    seen_by_sandbox: list[tuple] = []

    def look_from_the_sandbox(sender, instance, **kwargs) -> None:
        # Runs in the live server's thread, on its own database connection: it sees only committed rows.
        seen_by_sandbox.append(
            (
                list(DeliveryAttempt.objects.filter(feedback_id=feedback.pk).values_list("number", "finished_at")),
                Feedback.objects.get(pk=feedback.pk).status,
            )
        )

    pre_save.connect(look_from_the_sandbox, sender=SandboxCall, weak=False)
    try:
        run_worker()
    finally:
        pre_save.disconnect(look_from_the_sandbox, sender=SandboxCall)

    assert seen_by_sandbox == [([(1, None)], Status.SENDING)]
    assert reload(feedback).status == Status.ACCEPTED


@live_db
def test_response_bodies_are_stored_capped(sandbox_url, monkeypatch, lead_with_event, return_reason, run_worker):
    monkeypatch.setattr(DeliveryAttempt, "RESPONSE_LIMIT", 40)
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()

    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    full_body = SandboxCall.objects.get().response_body
    assert len(full_body) > 40
    assert attempt.response_body == full_body[:40]
    assert attempt.response_truncated
    assert reload(feedback).status == Status.ACCEPTED


@pytest.mark.django_db
def test_an_unreadable_reply_is_recorded_even_with_characters_a_database_cannot_hold(lead_with_event, return_reason):
    feedback = submit_return(lead_with_event, return_reason)
    exchange = Exchange(
        method="POST",
        url="http://leadconduit.test/feedback",
        request_headers={"Content-Type": "application/json"},
        request_body=b'{"type": "return"}',
        status=201,
        response_headers={"Content-Type": "application/json", "X-Odd": "a\x00b"},
        response_body=b"\x00\xffnot a result{{",
    )
    garbage = LeadConduitError("unreadable \x00 reply", classification=Classification.UNKNOWN, exchange=exchange)

    with mock.patch.object(delivery, "send_feedback", autospec=True, side_effect=garbage):
        assert deliver_now(feedback.pk) == Status.UNCONFIRMED

    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.response_body == "\ufffd\ufffdnot a result{{"
    assert attempt.response_headers["X-Odd"] == "a\ufffdb"
    assert attempt.error == "unreadable \ufffd reply"
    assert reload(feedback).status == Status.UNCONFIRMED


@pytest.mark.django_db
def test_a_reply_with_nul_characters_is_recorded_and_fills_the_lead(make_lead, return_reason):
    lead = make_lead(event_id="ab" * 12, first_name="", last_name="", email="", phone="")
    feedback = submit_return(lead, return_reason)
    exchange = Exchange(
        method="POST",
        url="http://leadconduit.test/feedback",
        request_headers={},
        request_body=b"",
        status=201,
        response_body=b"{}",
    )
    result = FeedbackResult(
        outcome=Outcome.FAILURE, reason="Not \x00 allowed", lead=LeadData(id="l1", first_name="Jo\x00e")
    )

    with mock.patch.object(
        delivery, "send_feedback", autospec=True, return_value=Reply(result=result, exchange=exchange)
    ):
        assert deliver_now(feedback.pk) == Status.REJECTED

    assert reload(feedback).outcome_reason == "Not \ufffd allowed"
    lead.refresh_from_db()
    assert lead.first_name == "Jo\ufffde"


@pytest.mark.django_db
def test_a_malformed_event_id_ends_in_error_without_a_call(closed_port_url, make_lead, return_reason):
    feedback = submit_return(make_lead(event_id="not-an-event-id"), return_reason)

    assert deliver_now(feedback.pk) == Status.ERROR

    feedback = reload(feedback)
    assert feedback.status == Status.ERROR
    assert "24 hexadecimal" in feedback.status_message
    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.response_status is None


@pytest.mark.django_db
def test_an_internal_error_mid_call_leaves_the_feedback_unconfirmed(lead_with_event, return_reason):
    feedback = submit_return(lead_with_event, return_reason)

    with mock.patch.object(delivery, "send_feedback", autospec=True, side_effect=RuntimeError("boom")):
        assert deliver_now(feedback.pk) == Status.UNCONFIRMED

    feedback = reload(feedback)
    assert feedback.status == Status.UNCONFIRMED
    assert DeliveryAttempt.objects.get(feedback=feedback).error == "RuntimeError: boom"
    assert deliver_now(feedback.pk) == Status.UNCONFIRMED
    assert DeliveryAttempt.objects.count() == 1


@live_db
@pytest.mark.parametrize("fault", ["400", "406", "415", "redirect"])
def test_a_request_leadconduit_refuses_ends_in_error_and_is_not_resent(
    fault_url, lead_with_event, return_reason, run_worker, fault
):
    fault_url(fault)
    feedback = submit_return(lead_with_event, return_reason)

    run_worker()
    make_due(feedback)
    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.ERROR
    assert feedback.status_message.startswith("LeadConduit refused the request")
    assert feedback.answered_at is not None
    assert SandboxCall.objects.filter(fault=fault).count() == 1
    assert DeliveryAttempt.objects.get(feedback=feedback).classification == "answered"


@live_db
def test_it_sends_the_reason_text_recorded_with_the_feedback(sandbox_url, lead_with_event, return_reason, run_worker):
    feedback = submit_return(lead_with_event, return_reason)
    Reason.objects.filter(pk=return_reason.pk).update(text="Wrong or invalid number")

    run_worker()

    assert json.loads(SandboxCall.objects.get().body) == {"type": "return", "reason": "Wrong number"}
    assert reload(feedback).reason_text == "Wrong number"
