"""Finds feedback whose delivery was interrupted (worker killed, task lost) and puts it right.

Run by every delivery worker every few seconds (``manage.py run_worker``) and available as
``manage.py sweep_feedback`` for cron. Every change is a conditional update, so any number of
sweepers and workers may run at once.

- A feedback claimed for sending whose attempt never finished: the call may have reached
  LeadConduit, so it becomes *unconfirmed* for a person to resolve.
- A feedback claimed but with no attempt recorded: nothing was sent, so it is queued again.
- A queued or due feedback with no live task: a new delivery task is enqueued.
- Whatever other apps connect to ``sweeping`` (the imports app resumes CSV imports that stopped).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Status
from feedbackportal.feedback.tasks import enqueue_delivery

logger = logging.getLogger(__name__)

# Sent with ``now`` by every sweep; each receiver puts right what its app owns and returns
# {what it did: count}, reported in SweepReport.others. The sweep needs no import of those apps.
sweeping = Signal()


@dataclass
class SweepReport:
    unconfirmed: int = 0
    requeued: int = 0
    reenqueued: int = 0
    others: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.unconfirmed or self.requeued or self.reenqueued or any(self.others.values()))


def stuck_after() -> timedelta:
    # Longer than any one call can take: connect + read timeouts + capped body read, plus margin.
    return timedelta(seconds=settings.LEADCONDUIT_TIMEOUT * 3 + settings.SWEEP_GRACE_SECONDS)


def sweep() -> SweepReport:
    report = SweepReport()
    now = timezone.now()
    for feedback in Feedback.objects.filter(status=Status.SENDING, updated_at__lt=now - stuck_after()):
        _recover_sending(feedback, report)
    _reenqueue_orphans(now, report)
    for _, counts in sweeping.send(sender=SweepReport, now=now):
        for name, count in cast(dict[str, int], counts).items():
            report.others[name] = report.others.get(name, 0) + count
    if report:
        logger.warning("Sweep: %s", report)
    return report


def _recover_sending(feedback: Feedback, report: SweepReport) -> None:
    attempt = DeliveryAttempt.objects.filter(feedback=feedback, number=feedback.attempt_count).first()
    still_stuck = Feedback.objects.filter(pk=feedback.pk, status=Status.SENDING, updated_at=feedback.updated_at)
    now = timezone.now()
    with transaction.atomic():
        if attempt is None:
            # Claimed, then the worker died before recording an attempt: nothing left the building.
            if still_stuck.update(status=Status.QUEUED, updated_at=now):
                enqueue_delivery(feedback)
                report.requeued += 1
            return
        if still_stuck.update(
            status=Status.UNCONFIRMED,
            status_message="The delivery worker stopped during the call; LeadConduit may have received it.",
            updated_at=now,
        ):
            if attempt.finished_at is None:
                attempt.finished_at = now
                attempt.classification = "unknown"
                attempt.error = "The worker stopped before the call finished (found by the sweeper)."
                attempt.save(update_fields=["finished_at", "classification", "error"])
            report.unconfirmed += 1


def _reenqueue_orphans(now, report: SweepReport) -> None:
    grace = timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    # A queued feedback inside its undo window (next_attempt_at ahead) is waiting, not lost: its grace
    # starts when the window ends, however long FEEDBACK_UNDO_SECONDS is.
    queued_late = Q(status=Status.QUEUED, updated_at__lt=now - grace) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - grace)
    )
    waiting = Feedback.objects.filter(queued_late | Q(status=Status.RETRYING, next_attempt_at__lt=now - grace))
    for feedback in waiting.only("pk", "status", "task_id", "updated_at", "next_attempt_at"):
        if task_alive(feedback.task_id, now):
            continue
        with transaction.atomic():
            # Conditional on what was seen: a worker or manager that moved it on meanwhile wins.
            updated = Feedback.objects.filter(pk=feedback.pk, status=feedback.status, task_id=feedback.task_id).update(
                updated_at=now
            )
            if not updated:
                continue
            enqueue_delivery(feedback)
        report.reenqueued += 1


def task_alive(task_id: str, now: datetime) -> bool:
    """Whether a task id names a task that is waiting, or running and not stuck."""
    if not task_id:
        return False
    try:
        task = DBTaskResult.objects.filter(pk=task_id).only("status", "started_at").first()
    except (ValueError, TypeError):
        return False
    if task is None:
        return False
    if task.status == TaskResultStatus.READY:
        return True
    return (
        task.status == TaskResultStatus.RUNNING
        and task.started_at is not None
        and task.started_at > now - stuck_after()
    )
