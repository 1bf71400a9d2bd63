"""Reads for the manager's desk: filtered history, rates per week, reason and agent, the month view, audit."""

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    F,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncWeek
from django.utils import timezone

from feedbackportal.feedback.models import (
    PENDING_STATUSES,
    Feedback,
    FeedbackAction,
    FeedbackType,
    ReasonChange,
    Status,
)
from feedbackportal.imports.reconciliation import confirmed_by_export
from feedbackportal.leads.models import Lead, NotIndexed

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
LEAD_MATCHES_SPARSE = 20_000


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
    """The given (filtered) feedback newest first, with lead and agent: the history's rows. An order
    already given is the same one, said so that no index serves it (on_leads_found)."""
    if not feedback.query.order_by:
        feedback = feedback.order_by("-created_at", "-id")
    return feedback.select_related("lead", "agent")


def older_than(history: QuerySet[Feedback], anchor: str | None) -> tuple[QuerySet[Feedback], Feedback | None]:
    """The history's rows after the feedback `anchor` (an id) in its order (newest first), and that
    feedback; the whole history and None when the anchor is not a feedback's id.

    Where the capped count stops the pages (CappedPaginator), the history goes on from its last row:
    a position, like a bookmark, not a filter, and found through the (created_at) index however deep.
    """
    if not anchor or not re.fullmatch(r"[0-9]{1,18}", anchor):  # not isdigit(): "²" is a digit to it
        return history, None
    found = Feedback.objects.filter(pk=int(anchor)).only("created_at").first()
    if found is None:
        return history, None
    # Written as a range on created_at first, so the index starts there rather than at the newest.
    after = Q(created_at__lte=found.created_at) & (Q(created_at__lt=found.created_at) | Q(pk__lt=found.pk))
    return history.filter(after), found


def on_leads_found(feedback: QuerySet[Feedback], text: str) -> QuerySet[Feedback]:
    """The feedback on the leads the agents' search finds for `text`, in the history's order.

    PostgreSQL may fetch a page of it by walking every feedback newest first, testing each one's
    lead: quick when the leads are common, 0.4 s at a million when they are a few thousand. So:
    - a handful of leads go in as a literal list, around which it plans the page;
    - up to LEAD_MATCHES_SPARSE, the order is one no index holds: their feedback is found through
      the leads, then sorted;
    - beyond that the walk finds a page soon, and is left to it.
    """
    matches = Lead.objects.search(text).order_by().values_list("pk", flat=True)
    few = list(matches[: LEAD_MATCHES_INLINED + 1])
    if len(few) <= LEAD_MATCHES_INLINED:
        return feedback.filter(lead__in=few)
    found = feedback.filter(lead__in=matches)
    if matches[: LEAD_MATCHES_SPARSE + 1].count() > LEAD_MATCHES_SPARSE:
        return found
    return found.order_by(NotIndexed("created_at", output_field=DateTimeField()).desc(), "-id")


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


def feedback_per_week(feedback: QuerySet[Feedback], *, first: date | None = None) -> list[WeekRow]:
    """Counted returns and conversions per week of submission, for the given (filtered) feedback, the
    weeks in between included. See weeks_counted."""
    return _fill_weeks(weeks_counted(feedback, first=first))


def weeks_counted(feedback: QuerySet[Feedback], *, first: date | None = None) -> dict[date, WeekRow]:
    """Counted returns and conversions per week of submission, for the given (filtered) feedback. One
    query (two when feedback is dated after this week). `first`: no feedback among them is older than
    that day, which on PostgreSQL lets each week be counted apart (_counts_week_by_week)."""
    counted = _bare(feedback).filter(COUNTED)
    weeks = _counts_week_by_week(counted, first) if first and connection.vendor == "postgresql" else None
    return counts_per_week(counted) if weeks is None else weeks


# Beyond this many weeks, counting them one by one costs more than grouping every row.
WEEK_BY_WEEK_MAX = 105


def _counts_week_by_week(counted: QuerySet[Feedback], first: date) -> dict[date, WeekRow] | None:
    """counts_per_week for the weeks from `first`'s to this one, each counted apart through the
    created_at index (LATERAL), where grouping every row by its week hashed them all (12 weeks at a
    million feedbacks: 117,000 rows, 45-65 ms, against 20-30). None when some feedback is dated
    after this week, or the weeks are too many: then group them (counts_per_week)."""
    mondays = [_monday(first)]
    while mondays[-1] < _monday(timezone.localdate()) and len(mondays) <= WEEK_BY_WEEK_MAX:
        mondays.append(mondays[-1] + timedelta(weeks=1))
    if len(mondays) > WEEK_BY_WEEK_MAX:
        return None
    rows, params = [], []
    for monday in mondays:
        rows.append("(%s::date, %s::timestamptz, %s::timestamptz)")
        params += [monday, start_of(monday), start_of(monday + timedelta(weeks=1))]
    rows.append("(NULL::date, %s::timestamptz, 'infinity'::timestamptz)")  # later: none expected
    params.append(start_of(mondays[-1] + timedelta(weeks=1)))
    bound = {
        "created_at__gte": RawSQL("weeks.starts", (), output_field=DateTimeField()),
        "created_at__lt": RawSQL("weeks.ends", (), output_field=DateTimeField()),
    }
    in_week, in_week_params = counted.filter(**bound).values_list("feedback_type").query.sql_with_params()
    sql = (
        f"SELECT weeks.monday, counted.returns, counted.conversions, counted.total"
        f" FROM (VALUES {', '.join(rows)}) AS weeks (monday, starts, ends) CROSS JOIN LATERAL"
        f" (SELECT COUNT(*) FILTER (WHERE t.feedback_type = %s) AS returns,"
        f" COUNT(*) FILTER (WHERE t.feedback_type = %s) AS conversions, COUNT(*) AS total"
        f" FROM ({in_week}) AS t) AS counted"
    )
    weeks: dict[date, WeekRow] = {}
    for monday, returns, conversions, total in _fetch(
        sql, [*params, FeedbackType.RETURN, FeedbackType.CONVERSION, *in_week_params]
    ):
        if monday is None and total:
            return None
        if total:
            weeks[monday] = WeekRow(monday, returns=returns, conversions=conversions)
    return weeks


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


@dataclass(frozen=True)
class CohortCell:
    """The leads received in one week from one source (by name), with what the rates and money need."""

    week: date
    source_name: str | None
    leads: int
    returned: int  # leads with a counted return in the (filtered) feedback
    priced: int
    spend: Decimal  # what the priced leads cost
    credit: Decimal  # the price of the leads whose return LeadConduit accepted
    converted: int  # leads with a conversion LeadConduit accepted


@dataclass(frozen=True)
class AllFeedbackSince:
    """Said of a (filtered) feedback: it is every feedback given since `start` (None: ever), none
    left out after. Its cohort's leads then tell from their own feedback summary (the newest counted
    return, accepted return, accepted conversion: Lead.last_*_at, kept by triggers) whether it holds
    one, with no feedback read (HistoryFilter.all_feedback_since says when)."""

    start: datetime | None

    def holds(self, newest: str) -> Q:
        """The leads whose newest feedback of a kind (a summary field) falls in it."""
        return Q(**{f"{newest}__gte": self.start}) if self.start else Q(**{f"{newest}__isnull": False})


def cohort_cells(
    cohort: QuerySet[Lead], feedback: QuerySet[Feedback], *, since: AllFeedbackSince | None = None
) -> list[CohortCell]:
    """The lead cohort per week received and source: the one pass over the leads behind the return
    rates (per week, per source) and the money (per week, per source). One query.

    Each lead is looked up among the feedback three times (has a counted return, an accepted
    return, an accepted conversion), or, when the feedback is all that was given `since` a day,
    read from the lead's own summary of its feedback: at a million leads 290 ms, or 60."""
    if since is None:
        counted = _bare(feedback).filter(COUNTED)
        accepted = _bare(feedback).filter(status=Status.ACCEPTED)
        returned = Q(pk__in=counted.filter(RETURNS).values("lead_id"))
        credited = Q(pk__in=accepted.filter(RETURNS).values("lead_id"))
        converted = Q(pk__in=accepted.filter(CONVERSIONS).values("lead_id"))
    else:
        returned = since.holds("last_counted_return_at")
        credited = since.holds("last_accepted_return_at")
        converted = since.holds("last_accepted_conversion_at")
    rows = (
        cohort.order_by()
        .annotate(week=week_start("received_at"))
        .values("week", "source_name")
        .annotate(
            leads=Count("pk"),
            returned=Count("pk", filter=returned),
            priced=Count("pk", filter=Q(price__isnull=False)),
            spend=Sum("price"),
            credit=Sum("price", filter=credited),
            converted=Count("pk", filter=converted),
        )
    )
    return [
        CohortCell(
            week=_week_of(row["week"]),
            source_name=row["source_name"],
            leads=row["leads"],
            returned=row["returned"],
            priced=row["priced"],
            spend=Decimal(row["spend"] or 0),
            credit=Decimal(row["credit"] or 0),
            converted=row["converted"],
        )
        for row in rows
    ]


def cohort_per_week(cells: list[CohortCell]) -> dict[date, tuple[int, int]]:
    """Per week of receipt: leads received, and how many of them were returned."""
    weeks: dict[date, tuple[int, int]] = {}
    for cell in cells:
        leads, returned = weeks.get(cell.week, (0, 0))
        weeks[cell.week] = (leads + cell.leads, returned + cell.returned)
    return weeks


def return_rate_by_source(cells: list[CohortCell]) -> list[dict[str, Any]]:
    """Per source, most returns first: leads, returned leads and their share."""
    sources: dict[str | None, list[int]] = {}
    for cell in cells:
        counts = sources.setdefault(cell.source_name, [0, 0])
        counts[0] += cell.leads
        counts[1] += cell.returned
    ordered = sorted(sources.items(), key=lambda item: (-item[1][1], item[0] or ""))
    return [
        {
            "source": name or "(no source)",
            "leads": leads,
            "returned": returned,
            "rate": returned / leads if leads else None,
        }
        for name, (leads, returned) in ordered
    ]


# The feedback's three groupings, by which columns GROUPING() reports as not grouped (a bit each, in
# the order agent, reason, status): one pass over the feedback answers all three. Its weeks are
# counted apart (weeks_counted): as a fourth grouping, every row's week was computed and hashed,
# a third of the pass at a million feedbacks.
BY_AGENT, BY_REASON, BY_STATUS = 0b011, 0b101, 0b110
TALLY_SETS = {
    BY_AGENT: ("agent",),
    BY_REASON: ("reason",),
    BY_STATUS: ("status",),
}
TALLY_COLUMNS = ("agent", "reason", "status")


@dataclass
class Tallies:
    """The feedback counted per week, per agent, per reason and per answer (each per type)."""

    weeks: dict[date, WeekRow]
    agents: list[AgentRow]
    reasons: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]


def _tally_query(feedback: QuerySet[Feedback]) -> tuple[str, Sequence[Any]]:
    """The SQL (and its parameters) whose rows are (grouping, type, agent, first name, last name,
    username, reason, status, total, counted) for each of the three groupings (the columns outside a
    row's grouping are None), ordered for display by the database's own collation: agents by name,
    reasons by counted returns."""
    rows = (
        _bare(feedback)
        .annotate(
            t_type=F("feedback_type"),
            t_agent=F("agent_id"),
            t_reason=F("reason_text"),
            t_status=F("status"),
            t_counted=Case(When(COUNTED, then=Value(1)), default=Value(0)),
        )
        .values_list("t_type", *(f"t_{name}" for name in TALLY_COLUMNS), "t_counted")
    )
    inner, params = rows.query.sql_with_params()
    prefix = ""
    if connection.vendor == "postgresql":
        sets = ", ".join(f"(t_type, {', '.join(f't_{name}' for name in names)})" for names in TALLY_SETS.values())
        grouped = (
            "SELECT GROUPING(t_agent, t_reason, t_status) AS grp, t_type AS kind, "
            + ", ".join(f"t_{name} AS {name}" for name in TALLY_COLUMNS)
            + ", COUNT(*) AS total, SUM(t_counted) AS counted"
            + f" FROM ({inner}) AS tally GROUP BY GROUPING SETS ({sets})"
        )
    else:
        # Without GROUPING SETS: the same three groupings over one materialized read, as a union.
        selects = []
        for grouping, names in TALLY_SETS.items():
            picked = ", ".join(f"{f't_{name}' if name in names else 'NULL'} AS {name}" for name in TALLY_COLUMNS)
            kept = ", ".join(f"t_{name}" for name in names)
            selects.append(
                f"SELECT {grouping} AS grp, t_type AS kind, {picked}, COUNT(*) AS total, SUM(t_counted) AS counted"
                f" FROM tally GROUP BY t_type, {kept}"
            )
        grouped = " UNION ALL ".join(selects)
        prefix = f"WITH tally AS MATERIALIZED ({inner}) "
    # The agents' names are joined to the few grouped rows, not to every feedback (a quarter of the
    # tally's time at a million feedbacks).
    quote = connection.ops.quote_name
    users = get_user_model()._meta
    sql = (
        prefix
        + "SELECT g.grp, g.kind, g.agent, u.first_name, u.last_name, u.username, g.reason, g.status,"
        + f" g.total, g.counted FROM ({grouped}) AS g LEFT OUTER JOIN {quote(users.db_table)} AS u"
        + f" ON u.{quote(str(users.pk.column))} = g.agent"
        + " ORDER BY g.grp, u.first_name, u.last_name, u.username, g.agent, g.counted DESC, g.reason, g.status,"
        + " g.kind"
    )
    return sql, params


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _fetch_and_close(sql: str, params: Sequence[Any], snapshot: str) -> list[tuple]:
    """_fetch on the calling thread's own connection, in the PostgreSQL snapshot another transaction
    exported (it sees what that one sees), then closed: for a thread that ends right after, whose
    connection nothing else would ever close."""
    try:
        with transaction.atomic():
            _read_only_snapshot()
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            return _fetch(sql, params)
    finally:
        connection.close()


def _read_only_snapshot() -> None:
    """Make this transaction (before its first query) one snapshot for all its reads."""
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def feedback_tallies(feedback: QuerySet[Feedback], *, first: date | None = None, limit: int = TOP_REASONS) -> Tallies:
    """Counted returns and conversions per week of submission and per agent (each agent knowing the
    team's share of returns), the reasons returned most often, and per type how many ended in each
    state (cancelled and failed included). Two queries: one pass over the feedback, and its weeks
    (weeks_counted, `first` as there)."""
    return _tallies(_fetch(*_tally_query(feedback)), weeks_counted(feedback, first=first), limit=limit)


def _tallies(rows: list[tuple], weeks: dict[date, WeekRow], *, limit: int = TOP_REASONS) -> Tallies:
    """The Tallies from the rows of _tally_query and the weeks of weeks_counted."""
    agents: dict[Any, AgentRow] = {}
    reasons: list[dict[str, Any]] = []
    by_type: dict[str, dict[str, int]] = {value: dict.fromkeys(OUTCOME_KEYS, 0) for value in FeedbackType.values}
    for grouping, kind, agent, first, last, username, reason, status, total, counted in rows:
        is_return = kind == FeedbackType.RETURN
        if grouping == BY_STATUS and kind in by_type:
            key = "pending" if status in PENDING_STATUSES else status
            if key in by_type[kind]:
                by_type[kind][key] += total
        elif not counted:
            continue
        elif grouping == BY_AGENT:
            name = f"{first or ''} {last or ''}".strip() or username or "(no agent: shell or import)"
            row = agents.setdefault(agent, AgentRow(name=name, returns=0, conversions=0))
            if is_return:
                row.returns += counted
            else:
                row.conversions += counted
        elif grouping == BY_REASON and is_return and len(reasons) < limit:
            reasons.append({"reason_text": reason, "count": counted})
    team_total = sum(agent_row.total for agent_row in agents.values())
    team_share = sum(agent_row.returns for agent_row in agents.values()) / team_total if team_total else None
    for agent_row in agents.values():
        agent_row.team_share = team_share
    outcomes = [{"type": value, "label": label} | by_type[value] for value, label in FeedbackType.choices]
    return Tallies(weeks=weeks, agents=list(agents.values()), reasons=reasons, outcomes=outcomes)


def feedback_report(
    feedback: QuerySet[Feedback],
    *,
    period: tuple[date | None, date | None],
    cells: list[CohortCell] | None = None,
    since: AllFeedbackSince | None = None,
    first: date | None = None,
) -> Report:
    """Every number the rates page shows, for the given (filtered) feedback; the return rate is
    measured on the leads received in `period` (or on `cells`, that cohort already read). One pass
    over the feedback, its weeks, and one pass over the lead cohort: three queries. `since`: see
    cohort_cells; `first`: see weeks_counted."""
    if cells is None:
        cells = cohort_cells(lead_cohort(*period), feedback, since=since)
    return _report(feedback_tallies(feedback, first=first), cells)


def feedback_report_with_cells(
    feedback: QuerySet[Feedback],
    *,
    period: tuple[date | None, date | None],
    since: AllFeedbackSince | None = None,
    first: date | None = None,
) -> tuple[Report, list[CohortCell]]:
    """feedback_report, and the lead cohort's cells it was measured on (the money reads them too),
    its two passes run at the same time on two connections when that is safe, in one snapshot.

    Both passes are CPU-bound in the database (at 1M leads and 1M feedbacks about 110 ms for the
    feedback, 60 for the cohort and 30 for the weeks): at once, the page waits for the longer side
    instead of their sum. The feedback's goes to a thread of its own, on a connection of
    its own, closed when it is done; the cohort's stays on this one, followed by the feedback's weeks.

    Only on PostgreSQL (where the big sites are; SQLite serves small ones), and only outside a
    transaction. This connection's reads then run in a read-only REPEATABLE READ transaction whose
    snapshot the other connection's takes up (pg_export_snapshot): the page's figures all count
    the same feedback, however much arrives while they are read. Inside a transaction (an atomic
    block; every test but the transactional ones) another connection would not see its
    uncommitted rows: both passes then run here, one after the other."""
    cohort = lead_cohort(*period)
    if connection.vendor != "postgresql" or connection.in_atomic_block or not connection.get_autocommit():
        cells = cohort_cells(cohort, feedback, since=since)
        return feedback_report(feedback, period=period, cells=cells, first=first), cells
    # Compiled here, so the other thread only sends SQL: no ORM state (a queryset, the active time
    # zone the weeks are cut in) is shared or missing there. Its rows are read back here too.
    tally_sql, tally_params = _tally_query(feedback)
    # The health check (a query) outside the transaction, whose first statement must set it up.
    connection.close_if_health_check_failed()
    # Leaving the block waits for the thread (also when the cohort's pass raises): none outlives
    # the request, and the snapshot it takes up stays open till then. result() raises what the
    # thread raised.
    with transaction.atomic(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedback-tallies") as aside:
        _read_only_snapshot()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
        tallied = aside.submit(_fetch_and_close, tally_sql, tally_params, snapshot)
        cells = cohort_cells(cohort, feedback, since=since)
        weeks = weeks_counted(feedback, first=first)
        rows = tallied.result()
    return _report(_tallies(rows, weeks), cells), cells


def _report(tallies: Tallies, cells: list[CohortCell]) -> Report:
    """The rates page's Report from the feedback's tallies and the lead cohort's cells."""
    weeks = tallies.weeks
    for week, (leads, returned_leads) in cohort_per_week(cells).items():
        row = _week_row(weeks, week)
        row.leads, row.returned_leads = leads, returned_leads
    agents = tallies.agents
    team_returns = sum(agent.returns for agent in agents)
    ordered_weeks = _fill_weeks(weeks)
    return Report(
        weeks=ordered_weeks,
        leads=sum(week.leads for week in ordered_weeks),
        returned_leads=sum(week.returned_leads for week in ordered_weeks),
        reasons=tallies.reasons,
        outcomes=tallies.outcomes,
        agents=agents,
        sources=return_rate_by_source(cells),
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
    # Answered in the month, or unanswered and submitted in it: each half through its own index (as
    # one COALESCE(answered_at, created_at) no index served, and every feedback was read).
    in_month = Q(answered_at__gte=start, answered_at__lt=end) | Q(
        answered_at=None, created_at__gte=start, created_at__lt=end
    )
    rows: dict[str, dict[str, Any]] = {
        row["feedback_type"]: dict(row)
        for row in Feedback.objects.filter(in_month)
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
            # LeadConduit's own export showed it as recorded (a finished reconciliation).
            confirmed_by_export=Count("pk", filter=confirmed_by_export()),
        )
        .order_by()
    }
    keys = [
        "submitted",
        *LEADCONDUIT_OUTCOMES,
        "refused",
        "confirmed",
        "unconfirmed",
        "pending",
        "failed",
        "cancelled",
        "confirmed_by_export",
    ]
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
