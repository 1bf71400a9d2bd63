"""Reads for the manager's desk: filtered history, rates per week, reason and agent, the month view, audit."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BigIntegerField, CharField, Count, DateField, F, Func, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from feedbackportal.feedback.models import (
    PENDING_STATUSES,
    Feedback,
    FeedbackAction,
    FeedbackType,
    ReasonChange,
    Status,
)
from feedbackportal.leads.models import Lead

# What counts as a return or conversion in the rates: what was (or may have been) recorded by
# LeadConduit. Cancelled ones were withdrawn; "not delivered" ones never arrived and are usually entered again.
NOT_COUNTED = (Status.CANCELLED, Status.FAILED)
COUNTED = ~Q(status__in=NOT_COUNTED)
RETURNS = Q(feedback_type=FeedbackType.RETURN)
CONVERSIONS = Q(feedback_type=FeedbackType.CONVERSION)
# An agent is flagged when their share of returns is this many times the team's, over enough feedback to mean it.
AGENT_FLAG_FACTOR = 1.5
AGENT_FLAG_MIN_FEEDBACK = 10
TOP_REASONS = 10


def start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


LEAD_MATCHES_INLINED = 500


class _SqliteMonday(Func):
    # SQLite's own date(): the Monday on or before a UTC timestamp, computed in C. Django's TruncWeek
    # calls a Python function per row there, which dominates reports over hundreds of thousands.
    function = "DATE"
    template = "DATE(%(expressions)s, '-6 days', 'weekday 1')"
    output_field = DateField()


def week_start(field: str) -> Func:
    """The first day (Monday) of the week a timestamp falls in, in the portal's time zone."""
    if connection.vendor == "sqlite" and settings.TIME_ZONE == "UTC":
        return _SqliteMonday(field)
    return TruncWeek(field)


def feedback_history(feedback: QuerySet[Feedback]) -> QuerySet[Feedback]:
    """The given (filtered) feedback newest first, with lead and agent: the history's rows."""
    return feedback.select_related("lead", "agent").order_by("-created_at", "-id")


def matching_lead_ids(text: str) -> list[int] | QuerySet[Lead, int]:
    """The ids of the leads the agents' search finds for `text`, as a list when there are few."""
    # Usually a handful of leads match: as a literal list PostgreSQL plans "newest first, LIMIT 50"
    # around them; as a subquery it may walk every feedback newest first looking for them.
    matches = Lead.objects.search(text).order_by().values_list("pk", flat=True)
    few = list(matches[: LEAD_MATCHES_INLINED + 1])
    return few if len(few) <= LEAD_MATCHES_INLINED else matches


# ---- Rates


@dataclass
class WeekRow:
    week: date
    returns: int = 0
    conversions: int = 0
    leads: int = 0
    returned_leads: int = 0

    @property
    def return_rate(self) -> float | None:
        return self.returned_leads / self.leads if self.leads else None


@dataclass
class AgentRow:
    name: str
    returns: int
    conversions: int
    team_share: float | None = None

    @property
    def total(self) -> int:
        return self.returns + self.conversions

    @property
    def return_share(self) -> float | None:
        return self.returns / self.total if self.total else None

    @property
    def flagged(self) -> bool:
        share, team = self.return_share, self.team_share
        return (
            share is not None
            and team is not None
            and self.total >= AGENT_FLAG_MIN_FEEDBACK
            and share > team * AGENT_FLAG_FACTOR
            and share > team
        )


@dataclass
class Report:
    weeks: list[WeekRow]
    leads: int
    returned_leads: int
    reasons: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    agents: list[AgentRow]
    sources: list[dict[str, Any]]
    team_share: float | None = None
    totals: dict = field(default_factory=dict)

    @property
    def return_rate(self) -> float | None:
        return self.returned_leads / self.leads if self.leads else None


def _week_row(weeks: dict[date, WeekRow], value: datetime | date) -> WeekRow:
    week = _week_of(value)
    return weeks.setdefault(week, WeekRow(week))


def counts_per_week(counted: QuerySet[Feedback]) -> dict[date, WeekRow]:
    """Returns and conversions per week of submission. One query."""
    weeks: dict[date, WeekRow] = {}
    per_week = (
        counted.annotate(week=week_start("created_at"))
        .values("week")
        .annotate(
            returns=Count("pk", filter=RETURNS),
            conversions=Count("pk", filter=CONVERSIONS),
        )
        .order_by()
    )
    for row in per_week:
        week = _week_row(weeks, row["week"])
        week.returns, week.conversions = row["returns"], row["conversions"]
    return weeks


def feedback_per_week(feedback: QuerySet[Feedback]) -> list[WeekRow]:
    """Counted returns and conversions per week of submission, for the given (filtered) feedback. One query."""
    return _fill_weeks(counts_per_week(_bare(feedback).filter(COUNTED)))


def _bare(feedback: QuerySet[Feedback]) -> QuerySet[Feedback]:
    return feedback.order_by().select_related(None)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_of(value: datetime | date) -> date:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return _monday(value)


def lead_cohort(start: date | None, end: date | None) -> QuerySet[Lead]:
    """The leads received from `start` to `end` (whole days, either may be open)."""
    cohort = Lead.objects.all()
    if start:
        cohort = cohort.filter(received_at__gte=start_of(start))
    if end:
        cohort = cohort.filter(received_at__lt=start_of(end + timedelta(days=1)))
    return cohort


def returned_lead_ids(counted: QuerySet[Feedback]) -> QuerySet[Feedback, Any]:
    return counted.filter(RETURNS).values("lead_id")


def cohort_per_week(cohort: QuerySet[Lead], returned: QuerySet) -> dict[date, tuple[int, int]]:
    """Per week of receipt: leads received, and how many of them are in `returned`. One query."""
    rows = (
        cohort.annotate(week=week_start("received_at"))
        .values("week")
        .annotate(leads=Count("pk"), returned=Count("pk", filter=Q(pk__in=returned)))
        .order_by()
    )
    return {_week_of(row["week"]): (row["leads"], row["returned"]) for row in rows}


def return_rate_by_source(cohort: QuerySet[Lead], returned: QuerySet) -> list[dict[str, Any]]:
    """Per source, most returns first: leads, returned leads and their share. One query."""
    rows = (
        cohort.values("source_name")
        .annotate(leads=Count("pk"), returned=Count("pk", filter=Q(pk__in=returned)))
        .order_by("-returned", "source_name")
    )
    return [
        {
            "source": row["source_name"] or "(no source)",
            "leads": row["leads"],
            "returned": row["returned"],
            "rate": row["returned"] / row["leads"] if row["leads"] else None,
        }
        for row in rows
    ]


def top_reasons(counted: QuerySet[Feedback], limit: int = TOP_REASONS) -> list[dict[str, Any]]:
    """The reasons returned most often, with their counts. One query."""
    rows = counted.filter(RETURNS).values("reason_text").annotate(count=Count("pk")).order_by("-count", "reason_text")
    return [dict(row) for row in rows[:limit]]


def outcomes_by_type(feedback: QuerySet[Feedback]) -> list[dict[str, Any]]:
    """Per feedback type, how many ended in each state (cancelled and failed included). One query."""
    by_type: dict[str, dict[str, Any]] = {
        row["feedback_type"]: dict(row)
        for row in feedback.values("feedback_type").annotate(
            accepted=Count("pk", filter=Q(status=Status.ACCEPTED)),
            rejected=Count("pk", filter=Q(status=Status.REJECTED)),
            error=Count("pk", filter=Q(status=Status.ERROR)),
            unconfirmed=Count("pk", filter=Q(status=Status.UNCONFIRMED)),
            pending=Count("pk", filter=Q(status__in=PENDING_STATUSES)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            cancelled=Count("pk", filter=Q(status=Status.CANCELLED)),
        )
    }
    return [
        {"type": value, "label": label} | {key: by_type.get(value, {}).get(key, 0) for key in OUTCOME_KEYS}
        for value, label in FeedbackType.choices
    ]


def agent_rates(counted: QuerySet[Feedback]) -> list[AgentRow]:
    """Returns and conversions per agent, each knowing the team's share of returns. One query."""
    rows = (
        counted.values("agent_id", "agent__first_name", "agent__last_name", "agent__username")
        .annotate(returns=Count("pk", filter=RETURNS), conversions=Count("pk", filter=CONVERSIONS))
        .order_by("agent__first_name", "agent__last_name", "agent__username", "agent_id")
    )
    agents = [
        AgentRow(
            name=f"{row['agent__first_name']} {row['agent__last_name']}".strip()
            or row["agent__username"]
            or "(no agent: shell or import)",
            returns=row["returns"],
            conversions=row["conversions"],
        )
        for row in rows
    ]
    team_total = sum(agent.total for agent in agents)
    team_share = sum(agent.returns for agent in agents) / team_total if team_total else None
    for agent in agents:
        agent.team_share = team_share
    return agents


def feedback_report(feedback: QuerySet[Feedback], *, period: tuple[date | None, date | None]) -> Report:
    """Every number the rates page shows, for the given (filtered) feedback; the return rate is
    measured on the leads received in `period`. Six queries."""
    feedback = _bare(feedback)
    counted = feedback.filter(COUNTED)
    weeks = counts_per_week(counted)
    cohort = lead_cohort(*period)
    returned = returned_lead_ids(counted)
    for week, (leads, returned_leads) in cohort_per_week(cohort, returned).items():
        row = _week_row(weeks, week)
        row.leads, row.returned_leads = leads, returned_leads
    agents = agent_rates(counted)
    team_returns = sum(agent.returns for agent in agents)
    ordered_weeks = _fill_weeks(weeks)
    return Report(
        weeks=ordered_weeks,
        leads=sum(week.leads for week in ordered_weeks),
        returned_leads=sum(week.returned_leads for week in ordered_weeks),
        reasons=top_reasons(counted),
        outcomes=outcomes_by_type(feedback),
        agents=agents,
        sources=return_rate_by_source(cohort, returned),
        team_share=agents[0].team_share if agents else None,
        totals={"returns": team_returns, "conversions": sum(agent.total for agent in agents) - team_returns},
    )


OUTCOME_KEYS = ["accepted", "rejected", "error", "unconfirmed", "pending", "failed", "cancelled"]


def _fill_weeks(weeks: dict[date, WeekRow]) -> list[WeekRow]:
    """Weeks in order, with the empty ones in between, so a chart's gaps show as gaps."""
    if not weeks:
        return []
    first, last = min(weeks), max(weeks)
    filled = []
    week = first
    while week <= last:
        filled.append(weeks.get(week) or WeekRow(week))
        week += timedelta(weeks=1)
    return filled


# ---- Month-end reconciliation

# LeadConduit's report columns, per type: return-received-success, -failure, -error.
LEADCONDUIT_OUTCOMES = ["success", "failure", "error"]


def reconciliation(month: date) -> list[dict]:
    """Per type, what the portal sent in the month, laid out like LeadConduit's month-end report.

    A feedback falls in the month LeadConduit answered it (that is when LeadConduit recorded it);
    one without an answer falls in the month it was submitted.
    """
    start = start_of(month)
    end = start_of((month + timedelta(days=32)).replace(day=1))
    rows: dict[str, dict[str, Any]] = {
        row["feedback_type"]: dict(row)
        for row in Feedback.objects.annotate(counted_at=Coalesce("answered_at", "created_at"))
        .filter(counted_at__gte=start, counted_at__lt=end)
        .values("feedback_type")
        .annotate(
            submitted=Count("pk"),
            success=Count("pk", filter=Q(outcome="success")),
            failure=Count("pk", filter=Q(outcome="failure")),
            error=Count("pk", filter=Q(outcome="error")),
            # Answered, but not with a result document (e.g. HTTP 400/406): LeadConduit recorded nothing.
            refused=Count("pk", filter=Q(status=Status.ERROR, outcome="")),
            # Marked as delivered by a manager: LeadConduit has it, but its answer never reached us.
            confirmed=Count("pk", filter=Q(status=Status.ACCEPTED, outcome="")),
            unconfirmed=Count("pk", filter=Q(status=Status.UNCONFIRMED)),
            pending=Count("pk", filter=Q(status__in=PENDING_STATUSES)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            cancelled=Count("pk", filter=Q(status=Status.CANCELLED, outcome="")),
        )
        .order_by()
    }
    keys = ["submitted", *LEADCONDUIT_OUTCOMES, "refused", "confirmed", "unconfirmed", "pending", "failed", "cancelled"]
    return [
        {"type": value, "label": label} | {key: rows.get(value, {}).get(key, 0) for key in keys}
        for value, label in FeedbackType.choices
    ]


# ---- Audit trail

AUDIT_KINDS = {
    "submitted": "Submitted",
    "resent": "Resent",
    "confirmed": "Marked as delivered",
    "cancelled": "Cancelled",
    "undone": "Undone",
    "reason": "Reason catalog",
}


def audit_trail(kind: str = "") -> QuerySet:
    """Who did what, newest first: submissions, managers' resolutions and reason catalog changes.

    One union of the three append-only sources, as rows of (kind, at, actor id, feedback id, record id),
    the record being the FeedbackAction or ReasonChange behind the row.
    """
    nothing = Value(None, output_field=BigIntegerField(null=True))
    submitted = Feedback.objects.annotate(
        kind=Value("submitted", output_field=CharField()),
        at=F("created_at"),
        actor=F("agent_id"),
        feedback_ref=F("pk"),
        record=nothing,
    ).values_list("kind", "at", "actor", "feedback_ref", "record")
    actions = FeedbackAction.objects.annotate(
        kind=F("action"),
        at=F("created_at"),
        actor_ref=F("actor_id"),
        feedback_ref=F("feedback_id"),
        record=F("pk"),
    ).values_list("kind", "at", "actor_ref", "feedback_ref", "record")
    reasons = ReasonChange.objects.annotate(
        kind=Value("reason", output_field=CharField()),
        at=F("created_at"),
        actor_ref=F("actor_id"),
        feedback_ref=nothing,
        record=F("pk"),
    ).values_list("kind", "at", "actor_ref", "feedback_ref", "record")
    if kind == "submitted":
        return submitted.order_by("-at")
    if kind == "reason":
        return reasons.order_by("-at")
    if kind in ("resent", "confirmed", "cancelled", "undone"):
        return actions.filter(action=kind).order_by("-at")
    return submitted.order_by().union(actions.order_by(), reasons.order_by(), all=True).order_by("-at")


def audit_entries(rows: list[tuple]) -> list[dict]:
    """One page of audit rows with their actors, feedback (and lead), actions and reason changes."""
    actor_ids = {row[2] for row in rows if row[2] is not None}
    feedback_ids = {row[3] for row in rows if row[3] is not None}
    action_ids = {row[4] for row in rows if row[0] != "reason" and row[4] is not None}
    change_ids = {row[4] for row in rows if row[0] == "reason"}
    actors = get_user_model().objects.in_bulk(actor_ids) if actor_ids else {}
    feedbacks = Feedback.objects.select_related("lead").in_bulk(feedback_ids) if feedback_ids else {}
    actions = FeedbackAction.objects.in_bulk(action_ids) if action_ids else {}
    changes = ReasonChange.objects.in_bulk(change_ids) if change_ids else {}
    return [
        {
            "kind": kind,
            "label": AUDIT_KINDS.get(kind, kind),
            "at": at,
            "actor": actors.get(actor_id),
            "feedback": feedbacks.get(feedback_id),
            "action": actions.get(record) if kind != "reason" else None,
            "change": changes.get(record) if kind == "reason" else None,
        }
        for kind, at, actor_id, feedback_id, record in rows
    ]
