"""The preview of a bulk feedback file: what it would send, and what not and why, before anything is sent.

The worker reads the whole file with the same checks the import makes (and predicts what
submit_feedback would refuse), writing nothing but the job's counters: no feedback, no task, no call.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason
from feedbackportal.imports.batching import Batch, batches, beat
from feedbackportal.imports.feedback_batches import (
    DUPLICATE,
    NO_EVENT_ID,
    NOT_EVENT_ID,
    UNKNOWN_EVENT_ID,
    UNKNOWN_REASON,
    feedback_columns,
    reasons_by_text,
    row_cells,
    row_problem,
    words,
)
from feedbackportal.imports.models import ImportJob
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead

PREVIEW_BATCH_SIZE = 500
EXAMPLES_KEPT = 5  # rows shown for each reason a row is not sent
UNKNOWN_REASONS_KEPT = 20  # distinct unknown reason texts counted by name; the rest are "other"
NO_REASON_LABEL = "(no reason)"
DUPLICATE_MESSAGE = "Duplicate: an earlier row of this file gives this feedback."

# What submit_feedback would refuse, predicted.
ALREADY_GIVEN = "already_given"
NO_REASON = "no_reason"
REASON_RETIRED = "reason_retired"

NOT_SENT_LABELS = {
    NO_EVENT_ID: "Rows without an event id",
    NOT_EVENT_ID: "Not an event id (24 characters, 0-9 and a-f)",
    UNKNOWN_EVENT_ID: "Unknown event ids (no such lead in the portal)",
    DUPLICATE: "Duplicates in the file",
    ALREADY_GIVEN: "Lead already has this feedback",
    UNKNOWN_REASON: "Unknown reasons",
    NO_REASON: "No reason (a return needs one)",
    REASON_RETIRED: "Reasons no longer in use",
}


@dataclass
class NotSent:
    """One reason rows are not sent, for the page and the command."""

    key: str
    label: str
    count: int
    examples: list[list[Any]]  # [row number, event id, message], the first few


@dataclass
class FeedbackPreview:
    """What a bulk feedback file would do; stored on the job as JSON (ImportJob.preview)."""

    rows: int = 0
    matched: int = 0  # rows whose event id is a lead the portal has
    send: int = 0  # rows that become a feedback: one LeadConduit call each
    skipped: dict[str, int] = field(default_factory=dict)  # why → rows, for each reason a row is not sent
    reasons: dict[str, int] = field(default_factory=dict)  # reason label → rows sent with it
    unknown_reasons: dict[str, int] = field(default_factory=dict)  # text → rows, the first texts met
    other_unknown_reasons: int = 0  # rows with an unknown reason past the texts kept
    examples: dict[str, list[list[Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, job: ImportJob) -> "FeedbackPreview":
        return cls(**job.preview) if job.preview else cls()

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def not_sent(self) -> list[NotSent]:
        """Every reason a row may not be sent, in a fixed order, with its count (zero too)."""
        return [
            NotSent(key, label, self.skipped.get(key, 0), self.examples.get(key, []))
            for key, label in NOT_SENT_LABELS.items()
        ]

    def reasons_by_count(self) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))

    def unknown_reasons_by_count(self) -> list[tuple[str, int]]:
        return sorted(self.unknown_reasons.items(), key=lambda item: (-item[1], item[0]))


class _LeadSet:
    """Lead ids, one bit each: the duplicates check stays small whatever the file's length."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, pk: int) -> None:
        index = pk >> 3
        if index >= len(self.bits):
            self.bits.extend(bytes(index + 1 - len(self.bits)))
        self.bits[index] |= 1 << (pk & 7)

    def __contains__(self, pk: int) -> bool:
        index = pk >> 3
        return index < len(self.bits) and bool(self.bits[index] & (1 << (pk & 7)))


def preview_feedback(job: ImportJob, reader: Iterator[list[str]]) -> FeedbackPreview:
    """Read the whole file into a preview; writes nothing but the job's heartbeat.

    Raises ImportRefused when the file has no event id column; ImportCancelled when the job was
    cancelled meanwhile (checked after each batch).
    """
    preview = FeedbackPreview()
    columns = feedback_columns(job, reader)
    if columns is None:
        return preview
    event_column, reason_column, first_row, rows = columns
    reasons = reasons_by_text(job.feedback_type)
    sent = _LeadSet()
    for batch in batches(rows, first_row=first_row, skip=0, size=PREVIEW_BATCH_SIZE):
        _preview_batch(job, preview, batch, event_column, reason_column, reasons, sent)
        beat(job)
    return preview


def _preview_batch(
    job: ImportJob,
    preview: FeedbackPreview,
    batch: Batch,
    event_column: int,
    reason_column: int | None,
    reasons: dict[str, Reason],
    sent: _LeadSet,
) -> None:
    cells = row_cells(batch, event_column, reason_column)
    ids = {event_id for _, event_id, _ in cells if is_event_id(event_id)}
    leads = dict(Lead.objects.filter(event_id__in=ids).values_list("event_id", "pk"))
    live = dict(
        Feedback.objects.live()
        .filter(lead_id__in=leads.values(), feedback_type=job.feedback_type)
        .values_list("lead_id", "status")
    )
    skipped, sent_with, unknown = Counter(preview.skipped), Counter(preview.reasons), Counter(preview.unknown_reasons)
    for number, event_id, reason_text in cells:
        preview.rows += 1
        lead_id = leads.get(event_id)
        duplicate = DUPLICATE_MESSAGE if lead_id is not None and lead_id in sent else ""
        why, message = row_problem(
            event_id,
            reason_text,
            duplicate=duplicate,
            known=lead_id is not None,
            reasons=reasons,
            feedback_type=job.feedback_type,
        )
        if lead_id is not None:
            preview.matched += 1
        reason = reasons.get(words(reason_text)) if reason_text else None
        if not why:
            why, message = _refusal(job.feedback_type, reason, live.get(lead_id or 0, ""))
        if why:
            skipped[why] += 1
            examples = preview.examples.setdefault(why, [])
            if len(examples) < EXAMPLES_KEPT:
                examples.append([number, event_id[:40], message])
            if why == UNKNOWN_REASON:
                if reason_text[:100] in unknown or len(unknown) < UNKNOWN_REASONS_KEPT:
                    unknown[reason_text[:100]] += 1
                else:
                    preview.other_unknown_reasons += 1
            continue
        assert lead_id is not None  # a row with no problem names a known lead
        preview.send += 1
        sent.add(lead_id)
        sent_with[reason.label if reason is not None else NO_REASON_LABEL] += 1
    preview.skipped, preview.reasons, preview.unknown_reasons = dict(skipped), dict(sent_with), dict(unknown)


def _refusal(feedback_type: str, reason: Reason | None, live_status: str) -> tuple[str, str]:
    """What submit_feedback would refuse a row for, in its order: (why, message), or ("", "")."""
    if reason is None and feedback_type == FeedbackType.RETURN:
        return NO_REASON, "Choose a reason for the return."
    if reason is not None and not reason.active:
        return REASON_RETIRED, f"“{reason.label}” is no longer in use; choose another reason."
    if live_status:
        return ALREADY_GIVEN, f"This lead already has a {feedback_type} ({live_status})."
    return "", ""
