"""Resumes CSV imports whose worker died; run with every sweep (connected in ImportsConfig.ready)."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from feedbackportal.feedback.sweeper import stuck_after, task_alive
from feedbackportal.imports.models import ImportJob, ImportStatus
from feedbackportal.imports.tasks import run_import


def resume_imports(*, now: datetime, **kwargs: Any) -> dict[str, int]:
    """Give each stalled import without a live task a new task; returns {"imports_resumed": count}.

    An import whose worker died stops moving; its batches committed with their results, so a new
    task picks it up where it stopped (bulk feedback rows carry fixed idempotency keys).
    """
    resumed = 0
    stale = now - stuck_after()
    waiting = ImportJob.objects.filter(status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING)).filter(
        Q(heartbeat_at__lt=stale)
        | Q(heartbeat_at__isnull=True, created_at__lt=now - timedelta(seconds=settings.SWEEP_GRACE_SECONDS))
    )
    for job in waiting.only("pk", "status", "task_id"):
        if task_alive(job.task_id, now):
            continue
        with transaction.atomic():
            # Still stalled when the row is ours: a run that was busy holding it (reconciliation's
            # matching) has just beaten, and is left to finish.
            still_stalled = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
            updated = ImportJob.objects.filter(still_stalled, pk=job.pk, status=job.status, task_id=job.task_id).update(
                task_id=str(run_import.enqueue(job.pk).id), status=ImportStatus.QUEUED
            )
            if not updated:
                transaction.set_rollback(True)
                continue
        resumed += 1
    return {"imports_resumed": resumed}
