"""Managers resolving feedback: resend, mark as delivered, cancel; each a conditional update with its audit row."""

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, FeedbackAction, Status
from feedbackportal.feedback.services import (
    FeedbackRefused,
    cancel_feedback,
    confirm_feedback_delivered,
    resend_feedback,
    submit_feedback,
)
from feedbackportal.feedback.tasks import deliver_now
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import at_once, make_due, make_feedback, reload

live_db = pytest.mark.django_db(transaction=True)
RACE_REPETITIONS = 10
NOT_RESENDABLE = [Status.QUEUED, Status.SENDING, Status.RETRYING, Status.ACCEPTED, Status.REJECTED]
NOT_CANCELLABLE = [Status.SENDING, Status.ACCEPTED, Status.REJECTED, Status.CANCELLED]


def assert_untouched(feedback: Feedback) -> None:
    current = reload(feedback)
    assert (current.status, current.attempt_count) == (feedback.status, feedback.attempt_count)
    assert not FeedbackAction.objects.filter(feedback=feedback).exists()


# ---- Resend


@pytest.mark.django_db
def test_resending_a_failed_feedback_queues_it_with_a_new_task_and_records_who(make_lead, return_reason, manager):
    feedback = make_feedback(
        make_lead(),
        return_reason,
        status=Status.FAILED,
        attempts=3,
        status_message="LeadConduit could not be reached",
        next_attempt_at=None,
        task_id="old-task",
    )

    resent = resend_feedback(feedback=feedback, actor=manager)

    assert resent.status == Status.QUEUED
    assert resent.status_message == ""
    assert resent.next_attempt_at is None
    task = DBTaskResult.objects.get()
    assert task.task_path == "feedbackportal.feedback.tasks.deliver"
    assert task.args_kwargs == {"args": [feedback.pk], "kwargs": {}}
    assert resent.task_id == str(task.id)
    action = FeedbackAction.objects.get()
    assert (action.feedback, action.actor, action.action) == (feedback, manager, "resent")
    assert (action.from_status, action.to_status, action.comment) == ("failed", "queued", "")


@pytest.mark.django_db
def test_resending_an_unconfirmed_feedback_needs_a_comment(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    for comment in ("", "   \n "):
        with pytest.raises(FeedbackRefused, match="check LeadConduit"):
            resend_feedback(feedback=feedback, actor=manager, comment=comment)

    assert_untouched(feedback)
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_resending_an_unconfirmed_feedback_with_a_comment_queues_it(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    resent = resend_feedback(feedback=feedback, actor=manager, comment="  Not in LeadConduit's event list.  ")

    assert resent.status == Status.QUEUED
    assert DBTaskResult.objects.count() == 1
    action = FeedbackAction.objects.get()
    assert (action.from_status, action.to_status) == ("unconfirmed", "queued")
    assert action.comment == "Not in LeadConduit's event list."


@pytest.mark.django_db
@pytest.mark.parametrize("status", [*NOT_RESENDABLE, Status.CANCELLED])
def test_only_unconfirmed_or_failed_feedback_can_be_resent(make_lead, return_reason, manager, status):
    feedback = make_feedback(make_lead(), return_reason, status=status)

    with pytest.raises(FeedbackRefused, match="cannot be resent"):
        resend_feedback(feedback=feedback, actor=manager, comment="checked")

    assert_untouched(feedback)
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_resend_is_refused_when_someone_else_resent_it_first(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=2)
    seen_by_other_manager = Feedback.objects.get(pk=feedback.pk)
    resend_feedback(feedback=feedback, actor=manager)

    with pytest.raises(FeedbackRefused, match="changed while you were looking") as refused:
        resend_feedback(feedback=seen_by_other_manager, actor=manager)

    assert refused.value.existing.status == Status.QUEUED
    assert DBTaskResult.objects.count() == 1
    assert FeedbackAction.objects.count() == 1


@pytest.mark.django_db
def test_a_resend_is_refused_when_the_feedback_was_tried_again_since_it_was_seen(make_lead, return_reason, manager):
    # Resent by someone else and unconfirmed again: same status, but another call may have reached LeadConduit.
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    stale = Feedback.objects.get(pk=feedback.pk)
    DeliveryAttempt.objects.create(feedback=feedback, number=2)
    Feedback.objects.filter(pk=feedback.pk).update(attempt_count=2)

    with pytest.raises(FeedbackRefused, match="changed while you were looking"):
        resend_feedback(feedback=stale, actor=manager, comment="Checked: not there")

    assert reload(feedback).status == Status.UNCONFIRMED
    assert not FeedbackAction.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_resend_is_refused_when_the_lead_got_another_live_feedback_meanwhile(make_lead, return_reason, manager):
    lead = make_lead()
    failed = make_feedback(lead, return_reason, status=Status.FAILED, attempts=3)
    newer = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)  # the agent tried again

    with pytest.raises(FeedbackRefused, match=f"already has another return \\(#{newer.pk}, queued") as refused:
        resend_feedback(feedback=failed, actor=manager)

    assert refused.value.existing == newer
    assert_untouched(failed)
    assert DBTaskResult.objects.count() == 1  # only the newer feedback's own task


@live_db
def test_a_resent_unconfirmed_feedback_is_delivered_exactly_once(
    fault_url, sandbox_url, settings, lead_with_event, return_reason, manager, run_worker
):
    fault_url("500")
    feedback = submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)
    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.UNCONFIRMED
    assert SandboxCall.objects.filter(event_id=lead_with_event.event_id).count() == 1

    settings.LEADCONDUIT_FEEDBACK_URL = sandbox_url
    resend_feedback(feedback=feedback, actor=manager, comment="Not in LeadConduit's events for this lead.")
    run_worker()
    make_due(feedback)
    run_worker()

    feedback = reload(feedback)
    assert feedback.status == Status.ACCEPTED
    calls = SandboxCall.objects.filter(event_id=lead_with_event.event_id)
    assert [call.fault for call in calls.order_by("pk")] == ["500", ""]
    assert list(feedback.attempts.values_list("number", "classification")) == [(1, "unknown"), (2, "answered")]


@live_db
def test_a_resent_failed_feedback_is_delivered_exactly_once(
    fault_url, sandbox_url, settings, lead_with_event, return_reason, manager, run_worker
):
    settings.LEADCONDUIT_MAX_ATTEMPTS = 1
    fault_url("503")
    feedback = submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)
    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.FAILED

    settings.LEADCONDUIT_FEEDBACK_URL = sandbox_url
    resend_feedback(feedback=feedback, actor=manager)
    run_worker()
    run_worker()

    assert reload(feedback).status == Status.ACCEPTED
    assert SandboxCall.objects.filter(event_id=lead_with_event.event_id, fault="").count() == 1
    assert SandboxCall.objects.count() == 2


@live_db
def test_a_resent_failed_feedback_gets_a_fresh_round_of_automatic_retries(
    fault_url, settings, lead_with_event, return_reason, manager, run_worker
):
    settings.LEADCONDUIT_MAX_ATTEMPTS = 2
    fault_url("503")
    feedback = submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)
    run_worker()
    make_due(feedback)
    run_worker()
    assert reload(feedback).status == Status.FAILED

    resend_feedback(feedback=reload(feedback), actor=manager)
    run_worker()
    assert reload(feedback).status == Status.RETRYING  # not straight back to failed
    make_due(feedback)
    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.FAILED
    assert feedback.attempt_count == 4
    assert SandboxCall.objects.count() == 4


# ---- Mark as delivered


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.UNCONFIRMED, Status.FAILED])
def test_marking_as_delivered_accepts_it_and_says_who(make_lead, return_reason, manager, status):
    feedback = make_feedback(make_lead(), return_reason, status=status, attempts=1, status_message="Read timed out")

    confirmed = confirm_feedback_delivered(feedback=feedback, actor=manager, comment="Seen in LeadConduit, 14:02")

    assert confirmed.status == Status.ACCEPTED
    assert "Maria Manager" in confirmed.status_message
    assert not DBTaskResult.objects.exists()
    action = FeedbackAction.objects.get()
    assert (action.action, action.actor, action.from_status, action.to_status) == (
        "confirmed",
        manager,
        status,
        "accepted",
    )
    assert action.comment == "Seen in LeadConduit, 14:02"


@pytest.mark.django_db
def test_marking_as_delivered_needs_a_comment(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    for comment in ("", "  "):
        with pytest.raises(FeedbackRefused, match="Add a comment"):
            confirm_feedback_delivered(feedback=feedback, actor=manager, comment=comment)

    assert_untouched(feedback)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [*NOT_RESENDABLE, Status.CANCELLED])
def test_only_unconfirmed_or_failed_feedback_can_be_marked_as_delivered(make_lead, return_reason, manager, status):
    feedback = make_feedback(make_lead(), return_reason, status=status)

    with pytest.raises(FeedbackRefused, match="cannot be marked as delivered"):
        confirm_feedback_delivered(feedback=feedback, actor=manager, comment="found it")

    assert_untouched(feedback)


@pytest.mark.django_db
def test_marking_a_failed_one_delivered_is_refused_when_another_is_live(make_lead, return_reason, manager):
    lead = make_lead()
    failed = make_feedback(lead, return_reason, status=Status.FAILED, attempts=3)
    newer = make_feedback(lead, return_reason, status=Status.ACCEPTED, attempts=1)

    with pytest.raises(FeedbackRefused, match=f"#{newer.pk}, accepted") as refused:
        confirm_feedback_delivered(feedback=failed, actor=manager, comment="found it")

    assert refused.value.existing == newer
    assert_untouched(failed)


@pytest.mark.django_db
def test_a_too_long_comment_is_refused(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    with pytest.raises(FeedbackRefused, match="under 2000 characters"):
        confirm_feedback_delivered(feedback=feedback, actor=manager, comment="x" * 2001)

    assert_untouched(feedback)


# ---- Cancel


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.UNCONFIRMED, Status.FAILED, Status.QUEUED, Status.RETRYING])
def test_cancelling_stops_the_feedback_and_frees_the_lead_for_a_new_one(make_lead, return_reason, manager, status):
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=status, attempts=1)

    cancelled = cancel_feedback(feedback=feedback, actor=manager, comment="Agent picked the wrong lead")

    assert cancelled.status == Status.CANCELLED
    assert "Maria Manager" in cancelled.status_message
    assert not cancelled.is_pending
    action = FeedbackAction.objects.get()
    assert (action.action, action.from_status, action.to_status) == ("cancelled", status, "cancelled")
    assert action.comment == "Agent picked the wrong lead"
    assert submit_feedback(lead=lead, feedback_type="return", reason=return_reason).status == Status.QUEUED


@pytest.mark.django_db
def test_a_cancelled_queued_feedback_is_never_sent(closed_port_url, make_lead, return_reason, manager):
    feedback = submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)

    cancel_feedback(feedback=feedback, actor=manager, comment="Duplicate of a phone return")

    assert deliver_now(feedback.pk) == Status.CANCELLED
    assert not DeliveryAttempt.objects.exists()
    assert reload(feedback).status == Status.CANCELLED


@pytest.mark.django_db
def test_cancelling_needs_a_comment(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.QUEUED)

    with pytest.raises(FeedbackRefused, match="Add a comment"):
        cancel_feedback(feedback=feedback, actor=manager, comment=" ")

    assert_untouched(feedback)


@pytest.mark.django_db
@pytest.mark.parametrize("status", NOT_CANCELLABLE)
def test_only_waiting_or_unresolved_feedback_can_be_cancelled(make_lead, return_reason, manager, status):
    feedback = make_feedback(make_lead(), return_reason, status=status)

    with pytest.raises(FeedbackRefused, match="cannot be cancelled"):
        cancel_feedback(feedback=feedback, actor=manager, comment="stop it")

    assert_untouched(feedback)


@pytest.mark.django_db
def test_a_cancel_is_refused_when_the_worker_claimed_it_first(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.QUEUED)
    Feedback.objects.filter(pk=feedback.pk).update(status=Status.SENDING, attempt_count=1)  # the worker's claim

    with pytest.raises(FeedbackRefused, match="it is now sending"):
        cancel_feedback(feedback=feedback, actor=manager, comment="stop it")

    assert reload(feedback).status == Status.SENDING
    assert not FeedbackAction.objects.exists()


@live_db
def test_a_cancel_racing_the_workers_claim_lets_exactly_one_of_them_win(
    sandbox_url, make_event, make_lead, return_reason, manager
):
    wins = {"cancel": 0, "worker": 0}
    for _ in range(RACE_REPETITIONS):
        lead = make_lead(event_id=make_event().event_id)
        feedback = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

        cancelled, delivered = at_once(
            lambda feedback=feedback: cancel_feedback(feedback=feedback, actor=manager, comment="wrong lead"),
            lambda feedback=feedback: deliver_now(feedback.pk),
        )

        calls = SandboxCall.objects.filter(event_id=lead.event_id).count()
        final = reload(feedback)
        if isinstance(cancelled, Feedback):
            wins["cancel"] += 1
            assert (final.status, delivered, calls) == (Status.CANCELLED, Status.CANCELLED, 0)
            assert not final.attempts.exists()
            assert FeedbackAction.objects.filter(feedback=feedback).count() == 1
        else:
            wins["worker"] += 1
            assert isinstance(cancelled, FeedbackRefused), cancelled
            assert (final.status, delivered, calls) == (Status.ACCEPTED, Status.ACCEPTED, 1)
            assert not FeedbackAction.objects.filter(feedback=feedback).exists()
    assert sum(wins.values()) == RACE_REPETITIONS


# ---- What agents read, and the audit record itself


@pytest.mark.django_db
def test_an_agent_is_told_a_long_queued_feedback_waits_for_the_worker(make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.QUEUED)
    assert feedback.agent_message == "Queued. Sending to LeadConduit…"

    Feedback.objects.filter(pk=feedback.pk).update(updated_at=feedback.updated_at - timedelta(seconds=31))

    message = reload(feedback).agent_message
    assert "waiting for the delivery worker" in message
    assert "do not submit it again" in message


@pytest.mark.django_db
def test_an_agent_is_told_a_cancelled_feedback_was_not_sent(make_lead, return_reason, manager):
    never_sent = make_feedback(make_lead(), return_reason, status=Status.QUEUED)
    tried = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    cancel_feedback(feedback=never_sent, actor=manager, comment="wrong lead")
    cancel_feedback(feedback=tried, actor=manager, comment="wrong lead")

    assert reload(never_sent).agent_message == "Cancelled by a manager; not sent."
    assert reload(tried).agent_message == "Cancelled by a manager; not sent again."
    assert "Maria" not in reload(tried).agent_message


@pytest.mark.django_db
def test_a_feedback_action_cannot_be_changed_or_deleted(make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)
    resend_feedback(feedback=feedback, actor=manager)
    action = FeedbackAction.objects.get()

    action.comment = "rewritten"
    with pytest.raises(ValueError, match="cannot be changed"):
        action.save()
    with pytest.raises(ValueError, match="cannot be deleted"):
        action.delete()
    with pytest.raises(ProtectedError):
        manager.delete()
    assert FeedbackAction.objects.get().comment == ""


@pytest.mark.django_db
def test_an_error_is_resent_only_with_a_comment_because_leadconduit_recorded_the_call(
    make_lead, return_reason, manager
):
    feedback = make_feedback(make_lead(), return_reason, status=Status.ERROR, attempts=1)

    with pytest.raises(FeedbackRefused, match="comment"):
        resend_feedback(feedback=feedback, actor=manager)
    assert_untouched(feedback)
    resent = resend_feedback(feedback=feedback, actor=manager, comment="Seller says their platform had an outage")

    assert resent.status == Status.QUEUED
    assert FeedbackAction.objects.get().from_status == Status.ERROR
