"""Running an import in the worker (or a management command), batch by batch.

Imports stream the file (csv over a text wrapper) and write in batches: memory stays bounded
whatever the file's size. Each batch (its rows, its results and the job's counters) commits as
one transaction, so an import that stops half-way can go on from where it stopped.
"""

import csv

from django.utils import timezone

from feedbackportal.imports.batching import ImportCancelled
from feedbackportal.imports.csv_reader import ImportRefused, OpenBinary, is_header, text_rows
from feedbackportal.imports.feedback_batches import import_feedback
from feedbackportal.imports.feedback_preview import preview_feedback
from feedbackportal.imports.lead_batches import import_leads
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.reconcile_batches import import_reconciliation


def run_import(job: ImportJob, open_binary: OpenBinary) -> ImportJob:
    """Import the job's file from where it stopped, batch by batch; the job ends done or failed.

    Rows that cannot be imported are recorded as skipped with a reason; only a file that cannot be
    read at all (no event id column, not CSV) fails the job, keeping the rows already imported.
    A bulk feedback job not yet confirmed is only read into its preview and waits for confirmation.
    A job cancelled meanwhile stops at its next batch and stays cancelled, keeping the batches done.
    """
    # Only a queued job is claimed: a second task for the same job finds it running and stops. The
    # sweeper puts a job whose worker died back to queued (with a new task) to resume it.
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=job.started_at or timezone.now(), heartbeat_at=timezone.now()
    )
    if not claimed:
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    previewing = job.kind == ImportKind.FEEDBACK and job.confirmed_at is None
    try:
        if previewing:
            _preview(job, open_binary)
        else:
            _import(job, open_binary)
    except ImportCancelled:
        pass  # the cancel recorded itself; what the finished batches did stays, and is reported
    except ImportRefused as exc:
        _finish(job, ImportStatus.FAILED, exc.message)
    except csv.Error as exc:
        _finish(job, ImportStatus.FAILED, f"The file stopped being readable CSV: {exc}")
    except OSError as exc:
        _finish(job, ImportStatus.FAILED, f"The uploaded file could not be read: {exc}")
    except Exception:
        _finish(job, ImportStatus.FAILED, "The import stopped on an unexpected error; the log has details.")
        raise
    else:
        if not previewing:
            _finish(job, ImportStatus.DONE, "")
    job.refresh_from_db()
    return job


def _preview(job: ImportJob, open_binary: OpenBinary) -> None:
    with text_rows(open_binary) as reader:
        preview = preview_feedback(job, reader)
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
        status=ImportStatus.CONFIRM, preview=preview.as_json(), total_rows=preview.rows
    )


def _import(job: ImportJob, open_binary: OpenBinary) -> None:
    if job.total_rows is None:
        with text_rows(open_binary) as reader:
            first = next(reader, None)
            total = sum(1 for _ in reader) + (first is not None and not is_header(job.kind, first))
        ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
    with text_rows(open_binary) as reader:
        if job.kind == ImportKind.LEADS:
            import_leads(job, reader)
        elif job.kind == ImportKind.RECONCILIATION:
            import_reconciliation(job, reader)
        else:
            import_feedback(job, reader)


def _finish(job: ImportJob, status: str, error: str) -> None:
    # Conditional: a job cancelled while its last batch ran stays cancelled.
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
        status=status, error=error[:2000], finished_at=timezone.now()
    )
