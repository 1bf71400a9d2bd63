"""Writes for imports: recording a job with its file, and queueing it for the worker."""

import re
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from feedbackportal.imports.csv_reader import ImportRefused
from feedbackportal.imports.models import CANCELLABLE, ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.tasks import run_import
from feedbackportal.leads.models import Source


def import_job_create(
    *,
    kind: str,
    uploaded: File[Any] | None,
    name: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    source: Source | None = None,
    feedback_type: str = "",
    column_mapping: dict[str, str] | None = None,
) -> ImportJob:
    """Record an import job, storing the uploaded file with the default storage.

    A lead import or a reconciliation waits for its column mapping (unless one is given); a feedback
    import is queued.
    """
    waiting = kind in (ImportKind.LEADS, ImportKind.RECONCILIATION) and column_mapping is None
    job = ImportJob(
        kind=kind,
        status=ImportStatus.MAPPING if waiting else ImportStatus.QUEUED,
        original_name=name[:255],
        created_by=user if isinstance(user, User) else None,
        source=source,
        feedback_type=feedback_type,
        column_mapping=column_mapping or {},
    )
    if uploaded is not None:
        job.file.save(_safe_name(name), uploaded, save=False)
    job.save()
    return job


def import_job_start(*, job: ImportJob, column_mapping: dict[str, str] | None = None) -> ImportJob:
    """Queue an import for the worker (with the column mapping, for a lead import).

    Raises ImportRefused when the mapping has no event id column.
    """
    if column_mapping is not None:
        if not column_mapping.get("event_id"):
            raise ImportRefused("Choose the column that holds the event id.")
        job.column_mapping = column_mapping
    with transaction.atomic():
        # Conditional, so a double-submitted mapping form starts the import once.
        startable = ImportJob.objects.filter(
            pk=job.pk, status__in=[ImportStatus.MAPPING, ImportStatus.QUEUED], task_id=""
        )
        if startable.update(status=ImportStatus.QUEUED, column_mapping=job.column_mapping):
            ImportJob.objects.filter(pk=job.pk).update(task_id=str(run_import.enqueue(job.pk).id))
    job.refresh_from_db()
    return job


def import_job_fail(*, job: ImportJob, message: str) -> None:
    """Fail a job still waiting for its column mapping (its file cannot be previewed), saying why.

    Conditional on the status, so it never overwrites a job that was started meanwhile.
    """
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.MAPPING).update(
        status=ImportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )


def import_job_confirm(
    *, job: ImportJob, user: AbstractBaseUser | AnonymousUser | None, run_in_worker: bool = True
) -> bool:
    """Send a previewed bulk feedback import: queue it for the worker (or for the caller to run).

    Returns False, changing nothing, unless the job is waiting for its confirmation: a double click,
    a second tab or a cancel that came first confirm nothing more. The worker needs the stored file:
    a job started from the shell (no file stored) is confirmed there, with run_in_worker=False.
    """
    waiting = ImportJob.objects.filter(pk=job.pk, kind=ImportKind.FEEDBACK, status=ImportStatus.CONFIRM)
    if run_in_worker:
        waiting = waiting.exclude(file="")
    with transaction.atomic():
        confirmed = waiting.update(
            status=ImportStatus.QUEUED,
            confirmed_at=timezone.now(),
            confirmed_by=user if isinstance(user, User) else None,
            task_id="",
        )
        if confirmed and run_in_worker:
            ImportJob.objects.filter(pk=job.pk).update(task_id=str(run_import.enqueue(job.pk).id))
    job.refresh_from_db()
    return bool(confirmed)


def import_job_cancel(*, job: ImportJob, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Cancel an import that has not ended: waiting for its mapping or confirmation, queued or running.

    Conditional on the status, so it cancels once and never a job that has ended. A running import
    stops at its next batch (see batching.record_batch); the batches it finished stay done. Returns
    whether this call cancelled it.
    """
    now = timezone.now()
    cancelled = ImportJob.objects.filter(pk=job.pk, status__in=CANCELLABLE).update(
        status=ImportStatus.CANCELLED,
        cancelled_at=now,
        cancelled_by=user if isinstance(user, User) else None,
        finished_at=now,
    )
    job.refresh_from_db()
    return bool(cancelled)


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1]).strip(".-")[:80]
    return stem or "upload.csv"


def import_results(job: ImportJob) -> Iterator[list[str]]:
    """The per-row result file, header first, streamed from the database."""
    yield ["row", "event_id", "result", "message", "feedback_id"]
    rows = job.rows.order_by("row_number").values_list("row_number", "event_id", "result", "message", "feedback_id")
    for number, event_id, result, message, feedback_id in rows.iterator(chunk_size=2000):
        yield [str(number), event_id, result, message, str(feedback_id or "")]
