"""Reconcile LeadConduit's own feedback export against the portal's feedback, row by row.

Each export row is matched by event id and feedback type. The groups are what a manager acts on:
agree; LeadConduit has it while the portal says unconfirmed (confirmable, with the row as
evidence); the portal says accepted but the export has nothing (flagged); LeadConduit has one the
portal never sent (entered elsewhere); the same feedback twice in LeadConduit (billed twice); the
outcomes differ. Pure reads, in batches: memory grows with the export's rows, queries with
the number of batches.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from feedbackportal.feedback.delivery import OUTCOME_STATUS
from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackType, Status
from feedbackportal.feedback.services import FeedbackRefused, resolve_feedback
from feedbackportal.imports.models import (
    FindingGroup,
    ImportJob,
    ImportKind,
    ImportRow,
    ImportStatus,
    ReconciliationFinding,
)
from feedbackportal.leads.models import Lead

BATCH = 500
# The portal's status, as the outcome LeadConduit records for it.
# The outcome LeadConduit reported for each status it answered with: the worker's own table, read backwards.
STATUS_OUTCOME: dict[str, str] = {status: outcome.value for outcome, status in OUTCOME_STATUS.items()}
# Never reached LeadConduit: such a feedback does not explain an export row.
NEVER_SENT = (Status.CANCELLED, Status.FAILED)
GROUPS: list[str] = FindingGroup.values
GROUP_LABELS: dict[str, str] = dict(FindingGroup.choices)


@dataclass(frozen=True)
class ExportRow:
    """One row of LeadConduit's feedback export, already read from its mapped columns."""

    row_number: int
    event_id: str
    feedback_type: str
    outcome: str
    reason: str = ""
    time: datetime | None = None


@dataclass(frozen=True)
class Finding:
    group: str
    event_id: str
    feedback_type: str
    row_numbers: tuple[int, ...] = ()
    leadconduit_outcome: str = ""
    portal_status: str = ""
    feedback_id: int | None = None


@dataclass
class Reconciliation:
    findings: dict[str, list[Finding]] = field(default_factory=lambda: {group: [] for group in GROUPS})

    def counts(self) -> dict[str, int]:
        return {group: len(items) for group, items in self.findings.items()}


def normalized_type(value: str) -> str:
    """LeadConduit writes the type as return / conversion (or return-received, Returns …)."""
    text = value.strip().lower()
    if "return" in text:
        return FeedbackType.RETURN
    if "conversion" in text or "convert" in text:
        return FeedbackType.CONVERSION
    return ""


def normalized_outcome(value: str) -> str:
    text = value.strip().lower()
    for outcome in ("success", "failure", "error"):
        if outcome in text:
            return outcome
    return text


def reconcile(rows: Iterable[ExportRow], *, period: tuple[datetime, datetime] | None = None) -> Reconciliation:
    """Group every export row against the portal; with `period`, also flag the portal's accepted
    feedback answered in it that the export lacks."""
    by_key: dict[tuple[str, str], list[ExportRow]] = defaultdict(list)
    for row in rows:
        by_key[(row.event_id.strip().lower(), normalized_type(row.feedback_type))].append(row)
    result = Reconciliation()
    keys = list(by_key)
    for start in range(0, len(keys), BATCH):
        for finding in classify_batch([(key, by_key[key]) for key in keys[start : start + BATCH]]):
            result.findings[finding.group].append(finding)
    if period is not None:
        _flag_missing(result, set(by_key), period)
    return result


def classify_batch(keyed: list[tuple[tuple[str, str], list[ExportRow]]]) -> list[Finding]:
    """One finding per (event id, type) key with its export rows, in one query for the whole batch."""
    portal = _portal_feedback([key for key, _ in keyed])
    result = Reconciliation()
    for key, rows in keyed:
        _classify(result, key, rows, portal.get(key, []))
    return [finding for group in GROUPS for finding in result.findings[group]]


def _portal_feedback(keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[Feedback]]:
    # By event id through the lead's unique index, the type checked here: an OR of (event id, type)
    # pairs costs Django more to build than the database to run, and no index serves it.
    wanted = set(keys)
    found: dict[tuple[str, str], list[Feedback]] = defaultdict(list)
    sent = (
        Feedback.objects.filter(lead__event_id__in={event_id for event_id, _ in keys})
        .exclude(status__in=NEVER_SENT)
        .select_related("lead")
    )
    for feedback in sent.order_by("-created_at", "-id"):
        key = (feedback.lead.event_id, feedback.feedback_type)
        if key in wanted:
            found[key].append(feedback)
    return found


def _classify(result: Reconciliation, key: tuple[str, str], rows: list[ExportRow], portal: list[Feedback]) -> None:
    event_id, feedback_type = key
    numbers = tuple(row.row_number for row in rows)
    successes = [row for row in rows if normalized_outcome(row.outcome) == "success"]
    outcome = normalized_outcome(rows[-1].outcome)
    feedback = portal[0] if portal else None
    status = feedback.status if feedback else ""

    def add(group: str, chosen: tuple[int, ...] = numbers) -> None:
        finding = Finding(group, event_id, feedback_type, chosen, outcome, status, feedback.pk if feedback else None)
        result.findings[group].append(finding)

    if len(successes) > 1:
        add("twice", tuple(row.row_number for row in successes))
        return
    if feedback is None:
        add("elsewhere")
        return
    if successes:
        outcome = "success"
        numbers = (successes[0].row_number,)
    if status == Status.UNCONFIRMED:
        add("confirmable" if outcome == "success" else "differs", numbers)
    elif STATUS_OUTCOME.get(status) == outcome:
        add("agree", numbers)
    else:
        add("differs", numbers)


def _flag_missing(result: Reconciliation, seen: set[tuple[str, str]], period: tuple[datetime, datetime]) -> None:
    start, end = period
    accepted = (
        Feedback.objects.filter(status=Status.ACCEPTED, answered_at__gte=start, answered_at__lt=end)
        .values_list("pk", "lead__event_id", "feedback_type")
        .order_by("answered_at", "pk")
    )
    for pk, event_id, feedback_type in accepted.iterator(chunk_size=2000):
        if (event_id, feedback_type) not in seen:
            result.findings["missing"].append(Finding("missing", event_id, feedback_type, (), "", Status.ACCEPTED, pk))


def confirm_from_export(*, finding: Finding, actor: User, reconciliation_label: str) -> Feedback:
    """Mark the unconfirmed feedback of a confirmable finding as delivered, the export row as evidence.

    Raises FeedbackRefused when the finding is not confirmable or the feedback moved on meanwhile.
    """
    if finding.group != "confirmable" or finding.feedback_id is None:
        raise FeedbackRefused("Only feedback LeadConduit's export shows as recorded can be marked delivered from it.")
    feedback = Feedback.objects.select_related("lead").get(pk=finding.feedback_id)
    rows = ", ".join(str(number) for number in finding.row_numbers)
    comment = f"mark delivered, evidence: {reconciliation_label}, row {rows}"
    return resolve_feedback(feedback=feedback, actor=actor, action=ActionKind.CONFIRMED, comment=comment)


def reconciliation_confirm(
    *, job: ImportJob, actor: User, finding_ids: Collection[int] | None = None, limit: int | None = None
) -> tuple[int, list[str]]:
    """Mark delivered every confirmable feedback of a finished reconciliation that is still unconfirmed
    (or only the findings given; at most `limit` of them), each with its export rows as evidence:
    "reconciliation N, row R".

    Returns how many were marked, and a message for each one that could not be (it moved on meanwhile).
    """
    if job.kind != ImportKind.RECONCILIATION or job.status != ImportStatus.DONE:
        return 0, ["Only a finished reconciliation can confirm feedback."]
    findings = job.findings.filter(group=FindingGroup.CONFIRMABLE, feedback__status=Status.UNCONFIRMED)
    if finding_ids is not None:
        findings = findings.filter(pk__in=finding_ids)
    confirmed, problems = 0, []
    for record in findings.order_by("pk")[:limit]:
        finding = Finding(
            record.group,
            record.event_id,
            record.feedback_type,
            tuple(record.row_numbers),
            record.leadconduit_outcome,
            record.portal_status,
            record.feedback_id,
        )
        try:
            confirm_from_export(finding=finding, actor=actor, reconciliation_label=f"reconciliation {job.pk}")
        except FeedbackRefused as exc:
            problems.append(f"{record.feedback_type} {record.event_id}: {exc.message}")
        else:
            confirmed += 1
    return confirmed, problems


# ---- Reads for the reconciliation pages and the month-end report

CONFIRMING_GROUPS = (FindingGroup.AGREE, FindingGroup.CONFIRMABLE)
CSV_PAGE = 2000


def reconciliations() -> QuerySet[ImportJob]:
    """Every reconciliation, newest first, with who uploaded it."""
    return ImportJob.objects.filter(kind=ImportKind.RECONCILIATION).select_related("created_by")


def group_counts(job: ImportJob) -> tuple[dict[str, int], int]:
    """Findings per group (every group, zero included), and how many confirmable ones are still unconfirmed."""
    counts = dict.fromkeys(GROUPS, 0)
    rows = job.findings.values("group").annotate(
        total=Count("pk"),
        waiting=Count("pk", filter=Q(group=FindingGroup.CONFIRMABLE, feedback__status=Status.UNCONFIRMED)),
    )
    waiting = 0
    for row in rows.order_by():
        counts[row["group"]] = row["total"]
        waiting += row["waiting"]
    return counts, waiting


@dataclass(frozen=True)
class FindingDetails:
    rows: list[ImportRow]
    lead: Lead | None


def finding_page_details(job: ImportJob, findings: list[ReconciliationFinding]) -> dict[int, FindingDetails]:
    """Each finding's export rows and its lead (the feedback's, or the portal's lead with that event id)."""
    numbers = {number for finding in findings for number in finding.row_numbers}
    rows = {row.row_number: row for row in job.rows.filter(row_number__in=numbers)} if numbers else {}
    unlinked = {finding.event_id for finding in findings if finding.feedback is None}
    leads = {lead.event_id: lead for lead in Lead.objects.filter(event_id__in=unlinked)} if unlinked else {}
    return {
        finding.pk: FindingDetails(
            rows=[rows[number] for number in finding.row_numbers if number in rows],
            lead=finding.feedback.lead if finding.feedback else leads.get(finding.event_id),
        )
        for finding in findings
    }


def group_rows(job: ImportJob, group: str) -> Iterator[list[object]]:
    """One group's findings as CSV rows, header first, page by page (findings, then their export rows)."""
    yield [
        "event_id",
        "type",
        "export_rows",
        "leadconduit_outcome",
        "leadconduit_reason",
        "leadconduit_time",
        "portal_status_when_reconciled",
        "portal_status_now",
        "feedback_id",
    ]
    after = 0
    while True:
        page = list(job.findings.filter(group=group, pk__gt=after).select_related("feedback").order_by("pk")[:CSV_PAGE])
        if not page:
            return
        details = finding_page_details(job, [finding for finding in page if finding.row_numbers])
        for finding in page:
            rows = details[finding.pk].rows if finding.pk in details else []
            yield [
                finding.event_id,
                finding.feedback_type,
                finding.rows_text,
                finding.leadconduit_outcome,
                " | ".join(row.reason for row in rows if row.reason),
                rows[0].at if rows else None,
                finding.portal_status,
                finding.feedback.status if finding.feedback else "",
                finding.feedback_id,
            ]
        after = page[-1].pk


def last_reconciled(start: datetime, end: datetime) -> ImportJob | None:
    """The newest finished reconciliation whose export has rows in [start, end)."""
    job_ids = ImportRow.objects.filter(at__gte=start, at__lt=end).values("job_id")
    return reconciliations().filter(status=ImportStatus.DONE, pk__in=job_ids).order_by("-finished_at", "-pk").first()


def confirmed_by_export() -> Exists:
    """For a Feedback queryset: LeadConduit's export showed it as recorded (a finished reconciliation agreed,
    or confirmed it)."""
    return Exists(
        ReconciliationFinding.objects.filter(
            feedback=OuterRef("pk"), group__in=CONFIRMING_GROUPS, job__status=ImportStatus.DONE
        )
    )


def export_row_results(job: ImportJob) -> Iterator[list[object]]:
    """Every row of the export as read, with its group (or why it could not be matched), header first;
    the export's other columns follow, as its header named them."""
    first = job.rows.order_by("row_number").values_list("extra", flat=True).first() or {}
    extra_columns = list(first)
    yield [
        "row",
        "event_id",
        "type",
        "outcome",
        "reason",
        "time",
        "result",
        "group",
        "message",
        *extra_columns,
    ]
    rows = job.rows.order_by("row_number").values_list(
        "row_number", "event_id", "feedback_type", "outcome", "reason", "at", "result", "group", "message", "extra"
    )
    for *cells, extra in rows.iterator(chunk_size=CSV_PAGE):
        yield [*cells, *(extra.get(name, "") for name in extra_columns)]
