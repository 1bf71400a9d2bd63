"""The filtered history as CSV, streamed row by row: a spreadsheet opens it cleanly, and no formula runs."""

import csv
from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from feedbackportal.feedback.models import FeedbackType, Status

BOM = "\ufeff"  # Excel reads UTF-8 only with it
# A cell starting with one of these is a formula to a spreadsheet (or the start of one, after a tab/CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000

COLUMNS = [
    ("feedback_id", "pk"),
    ("submitted_at", "created_at"),
    ("type", "feedback_type"),
    ("reason", "reason_text"),
    ("status", "status"),
    ("leadconduit_outcome", "outcome"),
    ("leadconduit_reason", "outcome_reason"),
    ("answered_at", "answered_at"),
    ("attempts", "attempt_count"),
    ("agent", "agent__username"),
    ("event_id", "lead__event_id"),
    ("first_name", "lead__first_name"),
    ("last_name", "lead__last_name"),
    ("email", "lead__email"),
    ("phone", "lead__phone"),
    ("source", "lead__source_name"),
    ("lead_received_at", "lead__received_at"),
    ("note", "note"),
]
LABELS = {"feedback_type": dict(FeedbackType.choices), "status": dict(Status.choices)}


class _Echo:
    """csv.writer's file: hands each written line straight back."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: object) -> str:
    """A cell's text, ISO dates in local time, with a ' before anything a spreadsheet would run."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(feedback: QuerySet) -> Iterator[str]:
    """The header, then one line per feedback; rows come from the database in chunks, never all at once."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow([name for name, _ in COLUMNS])
    fields = [source for _, source in COLUMNS]
    type_index, status_index = fields.index("feedback_type"), fields.index("status")
    rows = feedback.select_related(None).values_list(*fields).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        cells = list(row)
        cells[type_index] = LABELS["feedback_type"].get(cells[type_index], cells[type_index])
        cells[status_index] = LABELS["status"].get(cells[status_index], cells[status_index])
        yield writer.writerow([safe_cell(cell) for cell in cells])
