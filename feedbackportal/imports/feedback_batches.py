"""Bulk feedback imports (LeadConduit's own "Import Feedback" CSV): each row through submit_feedback."""

import uuid
from collections.abc import Iterator
from functools import partial

from feedbackportal.feedback.models import Reason
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback
from feedbackportal.imports.batching import Batch, batches, in_transaction, record_batch
from feedbackportal.imports.csv_reader import ImportRefused, column_key, is_header
from feedbackportal.imports.models import ImportJob, ImportRow, RowResult
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import clean_text
from feedbackportal.leads.models import Lead, SourceReasonWording

FEEDBACK_BATCH_SIZE = 100
EVENT_ID_HEADERS = {"eventid", "leadconduiteventid", "event"}
REASON_HEADERS = {"reason", "returnreason", "feedbackreason", "conversionreason"}


# Why a row is not sent (ImportRow messages say it in words; the preview counts each).
NO_EVENT_ID = "no_event_id"
NOT_EVENT_ID = "not_event_id"
DUPLICATE = "duplicate"
UNKNOWN_EVENT_ID = "unknown_event_id"
UNKNOWN_REASON = "unknown_reason"


def import_feedback(job: ImportJob, reader: Iterator[list[str]]) -> None:
    """Record one feedback per row (header optional), from where an earlier run stopped.

    Raises ImportRefused when a header has no event id column; ImportCancelled (from the batch
    that found the job cancelled, which is rolled back) when a manager cancelled it.
    """
    columns = feedback_columns(job, reader)
    if columns is None:
        return
    event_column, reason_column, first_row, rows = columns
    reasons = reasons_by_text(job.feedback_type)
    for batch in batches(rows, first_row=first_row, skip=job.processed, size=FEEDBACK_BATCH_SIZE):
        in_transaction(partial(_import_feedback_batch, job, batch, event_column, reason_column, reasons))


def feedback_columns(
    job: ImportJob, reader: Iterator[list[str]]
) -> tuple[int, int | None, int, Iterator[list[str]]] | None:
    """(event id column, reason column, line of the first data row, the data rows); None for an empty file.

    Raises ImportRefused when the first row is neither an event id nor a header with an event id column.
    """
    first = next(reader, None)
    if first is None:
        return None
    if not is_header(job.kind, first):
        return 0, 1, 1, _chain_first(first, reader)
    keys = [column_key(clean_text(name)) for name in first]
    found = next((i for i, key in enumerate(keys) if key in EVENT_ID_HEADERS), None)
    if found is None:
        raise ImportRefused(
            "The first row is neither an event id nor a header with an “Event ID” column; nothing was imported."
        )
    reason_column = next((i for i, key in enumerate(keys) if key in REASON_HEADERS), None)
    return found, reason_column, 2, reader


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def reasons_by_text(feedback_type: str) -> dict[str, Reason]:
    """What a file may say for each reason of the type: its label, its text or a source's wording."""
    known: dict[str, Reason] = {}
    for reason in Reason.objects.for_type(feedback_type).order_by("-active", "position"):
        for text in (reason.label, reason.text):
            known.setdefault(words(text), reason)
    wordings = SourceReasonWording.objects.filter(reason__feedback_type=feedback_type).select_related("reason")
    for wording in wordings:
        known.setdefault(words(wording.text), wording.reason)
    return known


def words(text: str) -> str:
    return " ".join(text.casefold().split())


def row_cells(batch: Batch, event_column: int, reason_column: int | None) -> list[tuple[int, str, str]]:
    """(row number, event id in lower case, reason text) of each row of a batch."""
    cells = []
    for number, row in batch:
        event_id = clean_text(row[event_column]).strip().lower() if event_column < len(row) else ""
        reason_text = ""
        if reason_column is not None and reason_column < len(row):
            reason_text = clean_text(row[reason_column]).strip()
        cells.append((number, event_id, reason_text))
    return cells


def row_problem(
    event_id: str, reason_text: str, *, duplicate: str, known: bool, reasons: dict[str, Reason], feedback_type: str
) -> tuple[str, str]:
    """(why, message) for a row that is not even offered to submit_feedback; ("", "") for one that is.

    ``duplicate`` is the message for a row whose feedback an earlier row of the file gives ("" if none),
    ``known`` whether the portal has a lead with the event id.
    """
    if not event_id:
        return NO_EVENT_ID, "No event id."
    if not is_event_id(event_id):
        return NOT_EVENT_ID, f"“{event_id[:40]}” is not an event id (24 characters, 0-9 and a-f)."
    if duplicate:
        return DUPLICATE, duplicate
    if not known:
        return UNKNOWN_EVENT_ID, "Unknown event id: the portal has no lead with it."
    if reason_text and words(reason_text) not in reasons:
        return UNKNOWN_REASON, f"Unknown reason “{reason_text[:100]}”: not in the {feedback_type} catalog."
    return "", ""


def _import_feedback_batch(
    job: ImportJob, batch: Batch, event_column: int, reason_column: int | None, reasons: dict[str, Reason]
) -> None:
    cells = row_cells(batch, event_column, reason_column)
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
        duplicate = (
            f"Duplicate: row {earlier[event_id]} of this file already gave this feedback."
            if event_id in earlier
            else ""
        )
        _, outcome.message = row_problem(
            event_id,
            reason_text,
            duplicate=duplicate,
            known=event_id in leads,
            reasons=reasons,
            feedback_type=job.feedback_type,
        )
        if outcome.message:
            continue
        outcome.lead = leads[event_id]
        reason = reasons.get(words(reason_text)) if reason_text else None
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
