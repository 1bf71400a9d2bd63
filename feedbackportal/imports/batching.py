"""What lead and feedback imports share: rows in batches, and recording a batch's results."""

import random
import time
from collections.abc import Callable, Iterator

from django.db import OperationalError, reset_queries, transaction
from django.db.models import F
from django.utils import timezone

from feedbackportal.imports.models import ImportJob, ImportRow, ImportStatus, RowResult

Batch = list[tuple[int, list[str]]]


class ImportCancelled(Exception):
    """The job was cancelled while it ran: the batch in hand is rolled back and the run stops."""


def batches(rows: Iterator[list[str]], *, first_row: int, skip: int, size: int) -> Iterator[Batch]:
    """(row number, row) in batches, leaving out the rows an earlier run already imported."""
    batch: Batch = []
    for index, row in enumerate(rows):
        if index < skip:
            continue
        batch.append((first_row + index, row))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE for a transaction it rolled back to break a deadlock
BATCH_ATTEMPTS = 3


def in_transaction(work: Callable[[], None]) -> None:
    """Run `work` (one batch) in a transaction of its own, and again when PostgreSQL rolled it back
    to break a deadlock.

    Two batches (a feedback import and a lead import, or two of either) deadlock when they reach
    the same leads in opposite orders: each feedback written locks its lead (migration leads/0012),
    and each lead written is locked too. Everything the batch wrote went with its transaction, and
    running it again writes its rows the same way (upserts, fixed idempotency keys)."""
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                work()
            return
        except OperationalError as exc:
            if attempt == BATCH_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) != DEADLOCK:
                raise
            time.sleep(random.uniform(0.05, 0.25) * attempt)  # apart, so they do not meet again


def record_batch(job: ImportJob, results: list[ImportRow]) -> None:
    """Store a batch's row results and move the job's counters (inside the batch's transaction).

    Raises ImportCancelled, so the batch's transaction rolls back, when the job is no longer running.
    """
    counts = {result: sum(1 for row in results if row.result == result) for result in RowResult.values}
    # Conditional on the status: a cancel that committed first wins, and this batch is not kept.
    moved = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
        processed=F("processed") + len(results),
        created_count=F("created_count") + counts[RowResult.CREATED],
        updated_count=F("updated_count") + counts[RowResult.UPDATED],
        skipped_count=F("skipped_count") + counts[RowResult.SKIPPED],
        heartbeat_at=timezone.now(),
    )
    if not moved:
        raise ImportCancelled
    ImportRow.objects.bulk_create(results)
    reset_queries()  # with DEBUG on, Django keeps every query's SQL: memory would grow with the file


def beat(job: ImportJob) -> None:
    """Show the job is still moving (for the sweeper); raises ImportCancelled if it was cancelled."""
    if not ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(heartbeat_at=timezone.now()):
        raise ImportCancelled
