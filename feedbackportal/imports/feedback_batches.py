"""Bulk feedback imports (LeadConduit's own "Import Feedback" CSV): each row through submit_feedback."""

import uuid
from collections.abc import Iterator

from django.db import transaction

from feedbackportal.feedback.models import Reason
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback
from feedbackportal.imports.batching import Batch, batches, record_batch
from feedbackportal.imports.csv_reader import ImportRefused, column_key, is_header
from feedbackportal.imports.models import ImportJob, ImportRow, RowResult
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import clean_text
from feedbackportal.leads.models import Lead, SourceReasonWording

FEEDBACK_BATCH_SIZE = 100
EVENT_ID_HEADERS = {"eventid", "leadconduiteventid", "event"}
REASON_HEADERS = {"reason", "returnreason", "feedbackreason", "conversionreason"}


def import_feedback(job: ImportJob, reader: Iterator[list[str]]) -> None:
    """Record one feedback per row (header optional), from where an earlier run stopped.

    Raises ImportRefused when a header has no event id column.
    """
    first = next(reader, None)
    if first is None:
        return
    reason_column: int | None
    if not is_header(job.kind, first):
        event_column, reason_column, first_row = 0, 1, 1
        rows: Iterator[list[str]] = _chain_first(first, reader)
    else:
        keys = [column_key(clean_text(name)) for name in first]
        found = next((i for i, key in enumerate(keys) if key in EVENT_ID_HEADERS), None)
        if found is None:
            raise ImportRefused(
                "The first row is neither an event id nor a header with an “Event ID” column; nothing was imported."
            )
        event_column = found
        reason_column = next((i for i, key in enumerate(keys) if key in REASON_HEADERS), None)
        first_row, rows = 2, reader
    reasons = _reasons_by_text(job.feedback_type)
    for batch in batches(rows, first_row=first_row, skip=job.processed, size=FEEDBACK_BATCH_SIZE):
        with transaction.atomic():
            _import_feedback_batch(job, batch, event_column, reason_column, reasons)


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _reasons_by_text(feedback_type: str) -> dict[str, Reason]:
    """What a file may say for each reason of the type: its label, its text or a source's wording."""
    known: dict[str, Reason] = {}
    for reason in Reason.objects.for_type(feedback_type).order_by("-active", "position"):
        for text in (reason.label, reason.text):
            known.setdefault(_words(text), reason)
    wordings = SourceReasonWording.objects.filter(reason__feedback_type=feedback_type).select_related("reason")
    for wording in wordings:
        known.setdefault(_words(wording.text), wording.reason)
    return known


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


def _import_feedback_batch(
    job: ImportJob, batch: Batch, event_column: int, reason_column: int | None, reasons: dict[str, Reason]
) -> None:
    cells = []
    for number, row in batch:
        event_id = clean_text(row[event_column]).strip().lower() if event_column < len(row) else ""
        reason_text = ""
        if reason_column is not None and reason_column < len(row):
            reason_text = clean_text(row[reason_column]).strip()
        cells.append((number, event_id, reason_text))
    ids = {event_id for _, event_id, _ in cells if is_event_id(event_id)}
    leads = {lead.event_id: lead for lead in Lead.objects.filter(event_id__in=ids)}
    earlier = dict(
        ImportRow.objects.filter(job=job, event_id__in=ids, result=RowResult.CREATED).values_list(
            "event_id", "row_number"
        )
    )
    results: list[ImportRow] = []
    for number, event_id, reason_text in cells:
        outcome = ImportRow(job=job, row_number=number, event_id=event_id[:100], result=RowResult.SKIPPED)
        results.append(outcome)
        if not event_id:
            outcome.message = "No event id."
        elif not is_event_id(event_id):
            outcome.message = f"“{event_id[:40]}” is not an event id (24 characters, 0-9 and a-f)."
        elif event_id in earlier:
            outcome.message = f"Duplicate: row {earlier[event_id]} of this file already gave this feedback."
        elif event_id not in leads:
            outcome.message = "Unknown event id: the portal has no lead with it."
        elif reason_text and _words(reason_text) not in reasons:
            outcome.message = f"Unknown reason “{reason_text[:100]}”: not in the {job.feedback_type} catalog."
        else:
            outcome.lead = leads[event_id]
            reason = reasons.get(_words(reason_text)) if reason_text else None
            try:
                feedback = submit_feedback(
                    lead=outcome.lead,
                    feedback_type=job.feedback_type,
                    reason=reason,
                    note=f"Bulk upload #{job.pk} ({job.original_name}), row {number}.",
                    agent=job.created_by,
                    idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, f"feedback-import/{job.pk}/{number}"),
                    undo_seconds=0,  # a manager confirmed the whole file after its preview: no undo window
                )
            except FeedbackRefused as exc:
                outcome.message = exc.message[:500]
            else:
                outcome.result, outcome.feedback = RowResult.CREATED, feedback
                outcome.message = f"Feedback #{feedback.pk} queued for LeadConduit."
                earlier[event_id] = number
    for outcome in results:
        if outcome.lead is not None:
            outcome.lead_id = outcome.lead.pk
    record_batch(job, results)
