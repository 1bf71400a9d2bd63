"""Lead CSV imports: each batch of rows becomes new or updated leads, one transaction per batch."""

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from feedbackportal.imports.batching import Batch, batches, in_transaction, record_batch
from feedbackportal.imports.csv_reader import FIELD_LABELS, IMPORT_FIELDS, ImportRefused
from feedbackportal.imports.models import ImportJob, ImportRow, RowResult
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import clean_text
from feedbackportal.leads.models import BadPrice, Lead, Source, lead_text_length, parse_price

BATCH_SIZE = 500
DATE_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d %H:%M:%S"]
_UPDATABLE = [field for field in IMPORT_FIELDS if field != "event_id"] + ["source"]


def import_leads(job: ImportJob, reader: Iterator[list[str]]) -> None:
    """Import the lead rows after the header, from where an earlier run stopped.

    Raises ImportRefused when the mapped columns are not in the file.
    """
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
    for batch in batches(reader, first_row=2, skip=job.processed, size=BATCH_SIZE):
        in_transaction(partial(_import_lead_batch, job, source, header, columns, batch))


def _import_lead_batch(
    job: ImportJob, source: Source | None, header: list[str], columns: dict[str, int], batch: Batch
) -> None:
    parsed: list[tuple[int, dict[str, Any] | None, str, dict[str, str]]] = []
    cell_chars = settings.IMPORT_MAX_CELL_CHARS  # what the lead's raw payload keeps of each cell
    for number, row in batch:
        values, problem = _lead_values(row, columns)
        payload = {name: clean_text(value)[:cell_chars] for name, value in zip(header, row, strict=False) if name}
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
                if value or name == "price":  # a price of zero is a price; a blank one never gets here
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
    for result_row in results:
        if result_row.lead is not None:
            result_row.lead_id = result_row.lead.pk
    record_batch(job, results)


def _lead_values(row: list[str], columns: dict[str, int]) -> tuple[dict[str, Any] | None, str]:
    values: dict[str, Any] = {}
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
    if "price" in values:
        raw_price = values.pop("price")
        try:
            price = parse_price(raw_price)
        except BadPrice:
            return None, f"“{raw_price[:40]}” is not a price we can read (use e.g. 18.50)."
        if price is not None:
            values["price"] = price
    fitted = {
        name: value[: lead_text_length(name)] if isinstance(value, str) else value for name, value in values.items()
    }
    return fitted, ""


def parse_received_at(value: str) -> datetime | None:
    """A date as CRMs and LeadConduit exports write them; naive times are in the portal's time zone."""
    value = value.strip()
    parsed: datetime | None
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
