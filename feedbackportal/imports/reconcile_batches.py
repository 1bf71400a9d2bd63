"""Reconciliation imports: LeadConduit's feedback export, read in batches, then matched against the portal.

Reading keeps every row (what it says, its other columns) as an ImportRow, batch by batch like the
other imports, so an interrupted read goes on where it stopped. Matching then walks the stored rows
key by key (event id and type, through a partial index) and writes one ReconciliationFinding per
key, in one transaction: a matching that was interrupted starts over.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import reset_queries
from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.imports.batching import Batch, batches, beat, in_transaction, record_batch
from feedbackportal.imports.csv_reader import ImportRefused, column_key
from feedbackportal.imports.lead_batches import parse_received_at
from feedbackportal.imports.models import (
    FindingGroup,
    ImportJob,
    ImportRow,
    ReconciliationFinding,
    RowResult,
)
from feedbackportal.imports.reconciliation import (
    BATCH,
    ExportRow,
    Finding,
    classify_batch,
    normalized_outcome,
    normalized_type,
)
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import clean_text

READ_BATCH_SIZE = 500
# The export's columns a reconciliation reads; every other column is kept with its row.
RECONCILE_FIELDS = {
    "event_id": "Event id (required)",
    "feedback_type": "Type: return or conversion (required)",
    "outcome": "Outcome: success, failure or error (required)",
    "reason": "Reason",
    "time": "Time",
}
REQUIRED_FIELDS = ("event_id", "feedback_type", "outcome")
FIELD_NAMES = {
    "event_id": "event id",
    "feedback_type": "type",
    "outcome": "outcome",
    "reason": "reason",
    "time": "time",
}
RECONCILE_ALIASES = {
    "event_id": ["eventid", "leadconduiteventid", "event", "recipienteventid"],
    "feedback_type": ["type", "feedbacktype", "eventtype", "kind"],
    "outcome": ["outcome", "feedbackoutcome", "result", "status"],
    "reason": ["reason", "outcomereason", "feedbackreason", "returnreason"],
    "time": ["time", "timestamp", "date", "createdat", "submittedat", "feedbacktime", "eventtime", "received"],
}
OUTCOMES = ("success", "failure", "error")


def guess_reconcile_mapping(header: list[str]) -> dict[str, str]:
    """Export field → the header column that most likely holds it (LeadConduit's names first)."""
    by_key: dict[str, str] = {}
    for name in header:
        by_key.setdefault(column_key(name), name)
    mapping = {}
    for field, aliases in RECONCILE_ALIASES.items():
        found = next((by_key[alias] for alias in aliases if alias in by_key), None)
        if found is not None:
            mapping[field] = found
    return mapping


def import_reconciliation(job: ImportJob, reader: Iterator[list[str]]) -> None:
    """Read the export's rows after the header from where an earlier run stopped, then match them all.

    Raises ImportRefused when a mapped column is not in the file or a required one is not mapped.
    """
    header = [clean_text(name).strip() for name in next(reader, [])]
    columns: dict[str, int] = {}
    for field, column in (job.column_mapping or {}).items():
        if field in RECONCILE_FIELDS and column:
            if column not in header:
                raise ImportRefused(f"The file has no column “{column}” (mapped to the {FIELD_NAMES[field]}).")
            columns[field] = header.index(column)
    for field in REQUIRED_FIELDS:
        if field not in columns:
            raise ImportRefused(f"No column is mapped to the {FIELD_NAMES[field]}.")
    for batch in batches(reader, first_row=2, skip=job.processed, size=READ_BATCH_SIZE):
        in_transaction(partial(_read_and_record, job, header, columns, batch))
    in_transaction(partial(_match, job))


def _read_and_record(job: ImportJob, header: list[str], columns: dict[str, int], batch: Batch) -> None:
    record_batch(job, _read_batch(job, header, columns, batch))


def _match(job: ImportJob) -> None:
    # The beats hold the job's row for the whole matching: a cancel or the sweeper's resume waits
    # for it. A job cancelled before matching is not matched; the closing beat leaves a fresh
    # heartbeat, so a resume that waited finds the job moving and leaves it to finish.
    beat(job)
    match_export(job)
    beat(job)


def _read_batch(job: ImportJob, header: list[str], columns: dict[str, int], batch: Batch) -> list[ImportRow]:
    mapped = set(columns.values())
    cell_chars = settings.IMPORT_MAX_CELL_CHARS
    results = []
    for number, row in batch:
        cells = {field: clean_text(row[index]).strip() if index < len(row) else "" for field, index in columns.items()}
        extra = {
            name: clean_text(value)[:cell_chars]
            for index, (name, value) in enumerate(zip(header, row, strict=False))
            if name and index not in mapped
        }
        result = ImportRow(job=job, row_number=number, result=RowResult.SKIPPED, extra=extra)
        result.event_id = cells["event_id"].lower()[:100]
        result.message = _read_cells(result, cells, any(cell.strip() for cell in row))
        results.append(result)
    return results


def _read_cells(result: ImportRow, cells: dict[str, str], has_content: bool) -> str:
    """Fill the row's export fields; "" and the result "read", or why the row cannot be matched."""
    raw_type, raw_outcome = cells["feedback_type"], cells["outcome"]
    if not has_content:
        return "Empty row."
    if not result.event_id:
        return "No event id."
    if not is_event_id(result.event_id):
        return f"“{result.event_id[:40]}” is not an event id (24 characters, 0-9 and a-f)."
    result.feedback_type = normalized_type(raw_type)
    if not result.feedback_type:
        return f"“{raw_type[:40]}” is neither a return nor a conversion."
    result.outcome = normalized_outcome(raw_outcome)[:20]
    if result.outcome not in OUTCOMES:
        return f"“{raw_outcome[:40]}” is not an outcome LeadConduit records (success, failure or error)."
    result.reason = cells.get("reason", "")[:255]
    result.result = RowResult.READ
    raw_time = cells.get("time", "")
    if raw_time:
        result.at = parse_received_at(raw_time)
        if result.at is None:
            return f"Time “{raw_time[:40]}” not read; the row is matched without it."
    return ""


def match_export(job: ImportJob) -> None:
    """Group the job's export rows against the portal (one finding per event id and type), then flag
    the portal's accepted feedback of the export's days and types that the export lacks.

    Runs inside the caller's transaction; findings of an earlier, interrupted run are replaced.
    """
    ReconciliationFinding.objects.filter(job=job).delete()
    keyed: list[tuple[tuple[str, str], list[ExportRow]]] = []
    for key, rows in _rows_by_key(job):
        keyed.append((key, rows))
        if len(keyed) == BATCH:
            _store(job, keyed)
            keyed = []
    if keyed:
        _store(job, keyed)
    _flag_missing(job)


def _rows_by_key(job: ImportJob) -> Iterator[tuple[tuple[str, str], list[ExportRow]]]:
    # Keyset pages, each read whole before it is used: the findings are written between pages, and
    # SQLite does not promise what a cursor still open on the table would see.
    rows = ImportRow.objects.filter(job=job, result=RowResult.READ).order_by("event_id", "feedback_type", "row_number")
    fields = ("row_number", "event_id", "feedback_type", "outcome", "reason", "at")
    after: tuple[str, str, int] | None = None
    current: tuple[str, str] | None = None
    held: list[ExportRow] = []
    while True:
        page = rows
        if after is not None:
            event_id, feedback_type, number = after
            page = rows.filter(
                Q(event_id__gt=event_id)
                | Q(event_id=event_id, feedback_type__gt=feedback_type)
                | Q(event_id=event_id, feedback_type=feedback_type, row_number__gt=number)
            )
        values = list(page.values_list(*fields)[: BATCH * 4])
        for number, event_id, feedback_type, outcome, reason, at in values:
            if (event_id, feedback_type) != current:
                if current is not None:
                    yield current, held
                current, held = (event_id, feedback_type), []
            held.append(ExportRow(number, event_id, feedback_type, outcome, reason, at))
        if len(values) < BATCH * 4:
            break
        number, event_id, feedback_type = values[-1][:3]
        after = (event_id, feedback_type, number)
    if current is not None:
        yield current, held


def _store(job: ImportJob, keyed: list[tuple[tuple[str, str], list[ExportRow]]]) -> None:
    findings = classify_batch(keyed)
    all_rows = {key: [row.row_number for row in rows] for key, rows in keyed}
    ReconciliationFinding.objects.bulk_create(_record(job, finding) for finding in findings)
    by_group: dict[str, list[int]] = {}
    for finding in findings:
        by_group.setdefault(finding.group, []).extend(all_rows[(finding.event_id, finding.feedback_type)])
    for group, numbers in by_group.items():
        ImportRow.objects.filter(job=job, result=RowResult.READ, row_number__in=numbers).update(group=group)
    reset_queries()  # with DEBUG on, Django keeps every query's SQL: memory would grow with the file


def _record(job: ImportJob, finding: Finding) -> ReconciliationFinding:
    return ReconciliationFinding(
        job=job,
        group=finding.group,
        event_id=finding.event_id,
        feedback_type=finding.feedback_type,
        row_numbers=list(finding.row_numbers),
        leadconduit_outcome=finding.leadconduit_outcome,
        portal_status=finding.portal_status,
        feedback_id=finding.feedback_id,
    )


def export_period(job: ImportJob) -> tuple[datetime, datetime] | None:
    """The whole days the export's rows fall in (in the portal's time zone), or None without times."""
    span = ImportRow.objects.filter(job=job, result=RowResult.READ).aggregate(first=Min("at"), last=Max("at"))
    if span["first"] is None or span["last"] is None:
        return None
    first = timezone.localtime(span["first"]).replace(hour=0, minute=0, second=0, microsecond=0)
    last = timezone.localtime(span["last"]).replace(hour=0, minute=0, second=0, microsecond=0)
    return first, timezone.make_aware(datetime.combine(last.date() + timedelta(days=1), datetime.min.time()))


def _flag_missing(job: ImportJob) -> None:
    period = export_period(job)
    if period is None:
        return
    types = set(
        ImportRow.objects.filter(job=job, result=RowResult.READ).values_list("feedback_type", flat=True).distinct()
    )
    accepted = (
        Feedback.objects.filter(
            status=Status.ACCEPTED, feedback_type__in=types, answered_at__gte=period[0], answered_at__lt=period[1]
        )
        .filter(~Exists(ReconciliationFinding.objects.filter(job=job, feedback=OuterRef("pk"))))
        .values_list("pk", "lead__event_id", "feedback_type")
        .order_by("answered_at", "pk")
    )
    missing = [
        ReconciliationFinding(
            job=job,
            group=FindingGroup.MISSING,
            event_id=event_id,
            feedback_type=feedback_type,
            portal_status=Status.ACCEPTED,
            feedback_id=pk,
        )
        for pk, event_id, feedback_type in accepted
    ]
    ReconciliationFinding.objects.bulk_create(missing, batch_size=BATCH)
