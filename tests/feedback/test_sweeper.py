from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.feedback.sweeper import stuck_after, sweep
from feedbackportal.sandbox.models import SandboxCall

LONG_AGO = timedelta(hours=2)


@pytest.fixture
def queued(lead_with_event, return_reason) -> Feedback:
    return submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)


def age(feedback: Feedback, **fields) -> None:
    Feedback.objects.filter(pk=feedback.pk).update(updated_at=timezone.now() - LONG_AGO, **fields)


def tasks_for(feedback: Feedback):
    return DBTaskResult.objects.filter(args_kwargs__args=[feedback.pk])


def test_a_queued_feedback_whose_task_vanished_is_enqueued_again(queued):
    tasks_for(queued).delete()
    age(queued)
    assert sweep().reenqueued == 1
    queued.refresh_from_db()
    assert tasks_for(queued).get().status == TaskResultStatus.READY
    assert str(tasks_for(queued).get().pk) == queued.task_id


def test_a_queued_feedback_whose_task_failed_is_enqueued_again(queued):
    tasks_for(queued).update(status=TaskResultStatus.FAILED)
    age(queued)
    assert sweep().reenqueued == 1
    assert tasks_for(queued).filter(status=TaskResultStatus.READY).count() == 1


def test_a_task_stuck_running_on_a_dead_worker_is_replaced(queued):
    tasks_for(queued).update(status=TaskResultStatus.RUNNING, started_at=timezone.now() - LONG_AGO)
    age(queued)
    assert sweep().reenqueued == 1


def test_a_task_running_right_now_is_left_alone(queued):
    tasks_for(queued).update(status=TaskResultStatus.RUNNING, started_at=timezone.now())
    age(queued)
    assert sweep().reenqueued == 0


def test_a_queued_feedback_with_a_ready_task_or_within_grace_is_left_alone(queued):
    age(queued)
    assert sweep().reenqueued == 0  # its task is still waiting for a worker
    tasks_for(queued).delete()
    Feedback.objects.filter(pk=queued.pk).update(updated_at=timezone.now())
    assert sweep().reenqueued == 0  # just submitted: the enqueue may not be visible yet


def test_sweeping_twice_enqueues_once(queued):
    tasks_for(queued).delete()
    age(queued)
    assert sweep().reenqueued == 1
    age(queued)
    assert sweep().reenqueued == 0
    assert tasks_for(queued).count() == 1


def test_a_retry_that_is_overdue_without_a_task_is_enqueued_again(queued):
    tasks_for(queued).delete()
    age(queued, status=Status.RETRYING, next_attempt_at=timezone.now() - LONG_AGO)
    assert sweep().reenqueued == 1


def test_a_feedback_waiting_out_a_long_undo_window_is_not_rescued(queued, settings):
    # Submitted long ago with a window longer than the grace: its task is not lost, it is not due yet.
    tasks_for(queued).delete()
    age(queued, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert sweep().reenqueued == 0
    grace = timedelta(seconds=settings.SWEEP_GRACE_SECONDS + 1)
    Feedback.objects.filter(pk=queued.pk).update(next_attempt_at=timezone.now() - grace)
    assert sweep().reenqueued == 1


def test_a_retry_not_yet_due_is_left_alone(queued):
    tasks_for(queued).delete()
    age(queued, status=Status.RETRYING, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert sweep().reenqueued == 0


def test_a_claim_with_an_unfinished_attempt_becomes_unconfirmed(queued):
    age(queued, status=Status.SENDING, attempt_count=1)
    DeliveryAttempt.objects.create(feedback=queued, number=1)
    report = sweep()
    assert report.unconfirmed == 1
    queued.refresh_from_db()
    assert queued.status == Status.UNCONFIRMED
    assert "may have received it" in queued.status_message
    attempt = queued.attempts.get()
    assert attempt.finished_at is not None
    assert attempt.classification == "unknown"


def test_a_recent_claim_is_left_alone(queued, settings):
    Feedback.objects.filter(pk=queued.pk).update(
        status=Status.SENDING, attempt_count=1, updated_at=timezone.now() - stuck_after() + timedelta(seconds=5)
    )
    DeliveryAttempt.objects.create(feedback=queued, number=1)
    assert not sweep()
    assert Feedback.objects.get(pk=queued.pk).status == Status.SENDING


@pytest.mark.django_db(transaction=True)
def test_a_claim_without_an_attempt_is_queued_again_and_delivered_once(sandbox_url, queued, run_worker):
    tasks_for(queued).delete()
    age(queued, status=Status.SENDING, attempt_count=1)
    assert sweep().requeued == 1
    assert Feedback.objects.get(pk=queued.pk).status == Status.QUEUED
    run_worker()
    assert Feedback.objects.get(pk=queued.pk).status == Status.ACCEPTED
    assert SandboxCall.objects.count() == 1
