"""Writes for leads: a LeadConduit delivery, and CSV imports of leads and of bulk feedback.

Imports stream the file (csv over a text wrapper) and write in batches: memory stays bounded
whatever the file's size. Each batch (its rows, its results and the job's counters) commits as
one transaction, so an import that stops half-way can go on from where it stopped.
"""

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, NamedTuple

from django.db import IntegrityError, reset_queries, transaction
from django.db.models import F
from django.utils import timezone

from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import BadDelivery, clean_text, extract_fields, lookup
from feedbackportal.leads.models import (
    DEFAULT_FIELD_MAPPING,
    BadPrice,
    ImportJob,
    ImportKind,
    ImportRow,
    ImportStatus,
    Lead,
    RowResult,
    Source,
    SourceReasonWording,
    parse_price,
)

BATCH_SIZE = 500
FEEDBACK_BATCH_SIZE = 100
PREVIEW_ROWS = 5
# Lead fields a CSV may fill: what a delivery carries, plus when the lead arrived and a source name.
IMPORT_FIELDS = [*DEFAULT_FIELD_MAPPING, "received_at", "source_name"]
FIELD_LABELS = {
    "event_id": "Event id (required)",
    "leadconduit_id": "LeadConduit lead id",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "address": "Address",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "received_at": "Received at (date)",
    "source_name": "Source name",
}
# Header spellings seen in CRM and LeadConduit exports, compared without case, spaces or punctuation.
COLUMN_ALIASES = {
    "event_id": ["eventid", "leadconduiteventid", "event"],
    "leadconduit_id": ["leadid", "leadconduitid", "leadconduitleadid"],
    "first_name": ["firstname", "first", "givenname"],
    "last_name": ["lastname", "last", "surname", "familyname"],
    "email": ["email", "emailaddress"],
    "phone": ["phone", "phone1", "phonenumber", "mobile", "homephone", "primaryphone"],
    "address": ["address", "address1", "street", "streetaddress"],
    "city": ["city"],
    "state": ["state", "region"],
    "postal_code": ["postalcode", "zip", "zipcode", "postcode"],
    "received_at": ["receivedat", "submissiontimestamp", "timestamp", "createdat", "received", "date"],
    "source_name": ["source", "sourcename"],
}
DATE_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d %H:%M:%S"]


class ImportRefused(Exception):
    """The file cannot be imported at all (not just some rows); the message is for the manager."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---- A delivery from LeadConduit


class Received(NamedTuple):
    lead: Lead
    created: bool
    warnings: list[str]


def lead_receive(*, source: Source, payload: dict) -> Received:
    """Store the lead a delivery carries; a redelivery of the same event id updates it.

    A price that cannot be read is left out (the lead matters more) and named in ``warnings``.
    Raises BadDelivery when the event id is missing or malformed, or (status 409) when the event
    id already belongs to another source's lead.
    """
    text_fields = _fitted(extract_fields(payload, source.mapping))
    event_id = text_fields.pop("event_id")
    fields: dict[str, object] = dict(text_fields)
    warnings = []
    try:
        fields["price"] = parse_price(lookup(payload, source.price_parameter))
    except BadPrice as exc:
        warnings.append(f"{exc} in '{source.price_parameter}'; the lead was stored without a price.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(event_id=event_id).first()
        if lead is None:
            try:
                with transaction.atomic():
                    lead = Lead(event_id=event_id, source=source, raw_payload=payload, **fields)
                    lead.save()
                return Received(lead, True, warnings)
            except IntegrityError:  # the same event delivered twice at once: the other one won
                lead = Lead.objects.select_for_update().get(event_id=event_id)
        if lead.source_id not in (None, source.pk):
            raise BadDelivery("This event id belongs to a lead from another source.", status=409)
        for name, value in fields.items():
            if value or (name == "price" and value is not None):
                setattr(lead, name, value)
        lead.source, lead.source_name = source, source.name
        lead.raw_payload = payload
        lead.save()
    return Received(lead, False, warnings)


def _fitted(fields: dict[str, str]) -> dict[str, str]:
    # A long address should not cost us the lead: cut to the column, as LeadConduit's own fields are.
    return {name: value[: Lead._meta.get_field(name).max_length] for name, value in fields.items()}


# ---- Imports: the job, the file, the batches


def import_job_create(
    *,
    kind: str,
    uploaded: IO[bytes] | None,
    name: str,
    user=None,
    source: Source | None = None,
    feedback_type: str = "",
    column_mapping: dict[str, str] | None = None,
) -> ImportJob:
    """Record an import job, storing the uploaded file with the default storage.

    A lead import waits for its column mapping (unless one is given); a feedback import is queued.
    """
    waiting = kind == ImportKind.LEADS and column_mapping is None
    job = ImportJob(
        kind=kind,
        status=ImportStatus.MAPPING if waiting else ImportStatus.QUEUED,
        original_name=name[:255],
        created_by=user,
        source=source,
        feedback_type=feedback_type,
        column_mapping=column_mapping or {},
    )
    if uploaded is not None:
        job.file.save(_safe_name(name), uploaded, save=False)
    job.save()
    return job


def import_job_start(*, job: ImportJob, column_mapping: dict[str, str] | None = None) -> ImportJob:
    """Queue an import for the worker (with the column mapping, for a lead import)."""
    from feedbackportal.leads.tasks import run_import

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


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1]).strip(".-")[:80]
    return stem or "upload.csv"


@contextmanager
def text_rows(open_binary: Callable[[], IO[bytes]]) -> Iterator[Iterator[list[str]]]:
    """CSV rows from a binary file, decoded as UTF-8 (a BOM is skipped; undecodable bytes become �).

    Blank lines are left out, so row numbers count the rows that have something in them.
    """
    with open_binary() as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield (row for row in csv.reader(text) if row)
        finally:
            text.detach()


def csv_preview(open_binary: Callable[[], IO[bytes]], rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The header and the first few data rows, read without loading the file."""
    try:
        with text_rows(open_binary) as reader:
            header = next(reader, [])
            sample = [row for _, row in zip(range(rows), reader, strict=False)]
    except csv.Error as exc:
        raise ImportRefused(f"This is not a CSV file we can read: {exc}") from None
    if not header:
        raise ImportRefused("The file is empty.")
    return [clean_text(name).strip() for name in header], sample


def guess_mapping(header: list[str], source: Source | None = None) -> dict[str, str]:
    """Lead field → the header column that most likely holds it."""
    by_key = {}
    for name in header:
        by_key.setdefault(_key(name), name)
    mapping = {}
    for field in IMPORT_FIELDS:
        candidates = [field, *COLUMN_ALIASES.get(field, [])]
        if field in DEFAULT_FIELD_MAPPING:
            candidates.insert(0, (source.mapping if source else DEFAULT_FIELD_MAPPING)[field])
        for candidate in candidates:
            if _key(candidate) in by_key:
                mapping[field] = by_key[_key(candidate)]
                break
    return mapping


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def run_import(job: ImportJob, open_binary: Callable[[], IO[bytes]]) -> ImportJob:
    """Import the job's file from where it stopped, batch by batch; the job ends done or failed.

    Rows that cannot be imported are recorded as skipped with a reason; only a file that cannot be
    read at all (no event id column, not CSV) fails the job, keeping the rows already imported.
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
    try:
        if job.total_rows is None:
            with text_rows(open_binary) as reader:
                first = next(reader, None)
                total = sum(1 for _ in reader) + (first is not None and not _is_header(job, first))
            ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
        with text_rows(open_binary) as reader:
            if job.kind == ImportKind.LEADS:
                _import_leads(job, reader)
            else:
                _import_feedback(job, reader)
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
        _finish(job, ImportStatus.DONE, "")
    job.refresh_from_db()
    return job


def _is_header(job: ImportJob, row: list[str]) -> bool:
    # A lead file always has a header (the columns are mapped by name); LeadConduit's feedback file may not.
    return job.kind == ImportKind.LEADS or not is_event_id(row[0].strip())


def _finish(job: ImportJob, status: str, error: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=status, error=error[:2000], finished_at=timezone.now())


def _batches(rows: Iterator[list[str]], *, first_row: int, skip: int, size: int) -> Iterator[list[tuple[int, list]]]:
    """(row number, row) in batches, leaving out the rows an earlier run already imported."""
    batch: list[tuple[int, list]] = []
    for index, row in enumerate(rows):
        if index < skip:
            continue
        batch.append((first_row + index, row))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _record_batch(job: ImportJob, results: list[ImportRow]) -> None:
    ImportRow.objects.bulk_create(results)
    reset_queries()  # with DEBUG on, Django keeps every query's SQL: memory would grow with the file
    counts = {result: sum(1 for row in results if row.result == result) for result in RowResult.values}
    ImportJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + len(results),
        created_count=F("created_count") + counts[RowResult.CREATED],
        updated_count=F("updated_count") + counts[RowResult.UPDATED],
        skipped_count=F("skipped_count") + counts[RowResult.SKIPPED],
        heartbeat_at=timezone.now(),
    )


# ---- Lead imports


def _import_leads(job: ImportJob, reader: Iterator[list[str]]) -> None:
    header = [clean_text(name).strip() for name in next(reader, [])]
    columns = {}
    for field, column in (job.column_mapping or {}).items():
        if field in IMPORT_FIELDS and column:
            if column not in header:
                raise ImportRefused(f"The file has no column “{column}” (mapped to {FIELD_LABELS[field]}).")
            columns[field] = header.index(column)
    if "event_id" not in columns:
        raise ImportRefused("No column is mapped to the event id.")
    source = job.source
    for batch in _batches(reader, first_row=2, skip=job.processed, size=BATCH_SIZE):
        with transaction.atomic():
            _import_lead_batch(job, source, header, columns, batch)


def _import_lead_batch(job, source, header, columns, batch) -> None:
    parsed: list[tuple[int, dict | None, str, dict]] = []
    for number, row in batch:
        values, problem = _lead_values(row, columns)
        payload = {name: clean_text(value) for name, value in zip(header, row, strict=False) if name}
        parsed.append((number, values, problem, payload))
    event_ids = {values["event_id"] for _, values, _, _ in parsed if values}
    existing = {lead.event_id: lead for lead in Lead.objects.filter(event_id__in=event_ids)}
    new: dict[str, Lead] = {}
    changed: dict[str, Lead] = {}
    results = []
    for number, values, problem, payload in parsed:
        if values is None:
            raw_id = payload.get(header[columns["event_id"]], "").strip()[:100]
            results.append(
                ImportRow(job=job, row_number=number, event_id=raw_id, result=RowResult.SKIPPED, message=problem)
            )
            continue
        event_id = values.pop("event_id")
        lead = new.get(event_id) or existing.get(event_id)
        if lead is not None and source is not None and lead.source_id not in (None, source.pk):
            message = "This event id belongs to a lead from another source; not changed."
            results.append(
                ImportRow(job=job, row_number=number, event_id=event_id, result=RowResult.SKIPPED, message=message)
            )
            continue
        if lead is None:
            lead = Lead(event_id=event_id, source=source, raw_payload=payload, **values)
            if source is not None:
                lead.source_name = source.name
            new[event_id] = lead
            result = RowResult.CREATED
        else:
            for name, value in values.items():
                if value:
                    setattr(lead, name, value)
            if source is not None:
                lead.source, lead.source_name = source, source.name
            lead.raw_payload = payload
            if event_id not in new:
                changed[event_id] = lead
            result = RowResult.UPDATED
        lead.normalize()
        results.append(ImportRow(job=job, row_number=number, event_id=event_id, result=result, lead=lead))
    Lead.objects.bulk_create(new.values())
    # One plain UPDATE per lead: bulk_update's CASE per column grows with the batch and is far slower.
    for lead in changed.values():
        lead.save(update_fields=[*_UPDATABLE, "phone_digits", "raw_payload", "updated_at"])
    if not all(lead.pk for lead in new.values()):  # backends without RETURNING ids
        ids = dict(Lead.objects.filter(event_id__in=new).values_list("event_id", "pk"))
        for lead in new.values():
            lead.pk = lead.id = ids[lead.event_id]
    for row in results:
        if row.lead is not None:
            row.lead_id = row.lead.pk
    _record_batch(job, results)


_UPDATABLE = [field for field in IMPORT_FIELDS if field != "event_id"] + ["source"]


def _lead_values(row: list[str], columns: dict[str, int]) -> tuple[dict | None, str]:
    values: dict = {}
    for field, index in columns.items():
        raw = clean_text(row[index]) if index < len(row) else ""
        values[field] = raw.strip() if field == "event_id" else " ".join(raw.split())
    event_id = values["event_id"]
    if not any(cell.strip() for cell in row):
        return None, "Empty row."
    if not event_id:
        return None, "No event id."
    if not is_event_id(event_id):
        return None, f"“{event_id[:40]}” is not an event id (24 characters, 0-9 and a-f)."
    values["event_id"] = event_id.lower()
    if "received_at" in values:
        raw_date = values.pop("received_at")
        if raw_date:
            received = parse_received_at(raw_date)
            if received is None:
                return None, f"“{raw_date[:40]}” is not a date we can read (use e.g. 2026-03-05 14:30)."
            values["received_at"] = received
    fitted = {
        name: value[: Lead._meta.get_field(name).max_length] if isinstance(value, str) else value
        for name, value in values.items()
    }
    return fitted, ""


def parse_received_at(value: str) -> datetime | None:
    """A date as CRMs and LeadConduit exports write them; naive times are in the portal's time zone."""
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
        for fmt in DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    try:
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        parsed.astimezone(UTC)  # the database stores UTC: a date at the calendar's edge may have none
    except OverflowError:
        return None
    return parsed


# ---- Bulk feedback imports (LeadConduit's own "Import Feedback" CSV)

EVENT_ID_HEADERS = {"eventid", "leadconduiteventid", "event"}
REASON_HEADERS = {"reason", "returnreason", "feedbackreason", "conversionreason"}


def _import_feedback(job: ImportJob, reader: Iterator[list[str]]) -> None:
    from feedbackportal.feedback.models import Reason

    first = next(reader, None)
    if first is None:
        return
    if not _is_header(job, first):
        event_column, reason_column, first_row = 0, 1, 1
        rows: Iterator[list[str]] = _chain_first(first, reader)
    else:
        keys = [_key(clean_text(name)) for name in first]
        event_column = next((i for i, key in enumerate(keys) if key in EVENT_ID_HEADERS), None)
        if event_column is None:
            raise ImportRefused(
                "The first row is neither an event id nor a header with an “Event ID” column; nothing was imported."
            )
        reason_column = next((i for i, key in enumerate(keys) if key in REASON_HEADERS), None)
        first_row, rows = 2, reader
    reasons = _reasons_by_text(Reason, job.feedback_type)
    for batch in _batches(rows, first_row=first_row, skip=job.processed, size=FEEDBACK_BATCH_SIZE):
        with transaction.atomic():
            _import_feedback_batch(job, batch, event_column, reason_column, reasons)


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _reasons_by_text(reason_model, feedback_type: str) -> dict[str, object]:
    """What a file may say for each reason of the type: its label, its text or a source's wording."""
    known: dict[str, object] = {}
    reasons = list(reason_model.objects.for_type(feedback_type).order_by("-active", "position"))
    for reason in reasons:
        for text in (reason.label, reason.text):
            known.setdefault(_words(text), reason)
    wordings = SourceReasonWording.objects.filter(reason__feedback_type=feedback_type).select_related("reason")
    for wording in wordings:
        known.setdefault(_words(wording.text), wording.reason)
    return known


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


def _import_feedback_batch(job, batch, event_column, reason_column, reasons) -> None:
    from feedbackportal.feedback.services import FeedbackRefused, submit_feedback

    cells = []
    for number, row in batch:
        event_id = clean_text(row[event_column]).strip().lower() if event_column < len(row) else ""
        has_reason = reason_column is not None and reason_column < len(row)
        reason = clean_text(row[reason_column]).strip() if has_reason else ""
        cells.append((number, event_id, reason))
    ids = {event_id for _, event_id, _ in cells if is_event_id(event_id)}
    leads = {lead.event_id: lead for lead in Lead.objects.filter(event_id__in=ids)}
    earlier = dict(
        ImportRow.objects.filter(job=job, event_id__in=ids, result=RowResult.CREATED).values_list(
            "event_id", "row_number"
        )
    )
    results = []
    for number, event_id, reason_text in cells:
        row = ImportRow(job=job, row_number=number, event_id=event_id[:100], result=RowResult.SKIPPED)
        results.append(row)
        if not event_id:
            row.message = "No event id."
        elif not is_event_id(event_id):
            row.message = f"“{event_id[:40]}” is not an event id (24 characters, 0-9 and a-f)."
        elif event_id in earlier:
            row.message = f"Duplicate: row {earlier[event_id]} of this file already gave this feedback."
        elif event_id not in leads:
            row.message = "Unknown event id: the portal has no lead with it."
        elif reason_text and _words(reason_text) not in reasons:
            row.message = f"Unknown reason “{reason_text[:100]}”: not in the {job.feedback_type} catalog."
        else:
            row.lead = leads[event_id]
            reason = reasons.get(_words(reason_text)) if reason_text else None
            try:
                feedback = submit_feedback(
                    lead=row.lead,
                    feedback_type=job.feedback_type,
                    reason=reason,
                    note=f"Bulk upload #{job.pk} ({job.original_name}), row {number}.",
                    agent=job.created_by,
                    idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, f"feedback-import/{job.pk}/{number}"),
                )
            except FeedbackRefused as exc:
                row.message = exc.message[:500]
            else:
                row.result, row.feedback_id = RowResult.CREATED, feedback.pk
                row.message = f"Feedback #{feedback.pk} queued for LeadConduit."
                earlier[event_id] = number
    for row in results:
        if row.lead is not None:
            row.lead_id = row.lead.pk
    _record_batch(job, results)


def import_results(job: ImportJob) -> Iterator[list[str]]:
    """The per-row result file, header first, streamed from the database."""
    yield ["row", "event_id", "result", "message", "feedback_id"]
    rows = job.rows.order_by("row_number").values_list("row_number", "event_id", "result", "message", "feedback_id")
    for number, event_id, result, message, feedback_id in rows.iterator(chunk_size=2000):
        yield [str(number), event_id, result, message, str(feedback_id or "")]
