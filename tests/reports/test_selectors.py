"""The rates page's numbers come from one pass over the feedback and one over the lead cohort; they
must equal what counting every row one by one gives."""

import random
import threading
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, DataError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from feedbackportal.feedback.models import PENDING_STATUSES, Feedback, FeedbackType, Reason, Status
from feedbackportal.leads.models import Lead
from feedbackportal.reports import selectors
from feedbackportal.reports.money import money_report
from feedbackportal.reports.selectors import (
    NOT_COUNTED,
    cohort_cells,
    feedback_report,
    feedback_report_with_cells,
    lead_cohort,
)
from tests.conftest import new_event_id
from tests.reports.conftest import at

PERIOD = (date(2026, 3, 2), date(2026, 4, 26))


def monday(value) -> date:
    day = timezone.localtime(value).date()
    return day - timedelta(days=day.weekday())


@pytest.fixture
def mixed(make_lead, agent):
    """Eight weeks of leads from three sources (one unnamed), some priced, with feedback of every
    status by two agents and by nobody; a few leads and feedbacks fall outside the period."""
    rng = random.Random(7)
    other = User.objects.create_user("other", first_name="Olga", last_name="Other")
    agents = [agent, other, None]
    reasons = list(Reason.objects.all())
    statuses = list(Status)
    for n in range(90):
        received = at("2026-02-23 08:00") + timedelta(hours=17 * n)
        lead = make_lead(
            source_name=rng.choice(["Acme Leads", "Budget Leads", ""]),
            received_at=received,
            price=rng.choice([None, Decimal("12.50"), Decimal("0"), Decimal("7.35")]),
        )
        for feedback_type in FeedbackType.values:
            if rng.random() < 0.6:
                reason = rng.choice([r for r in reasons if r.feedback_type == feedback_type])
                Feedback.objects.create(
                    lead=lead,
                    feedback_type=feedback_type,
                    reason=reason,
                    reason_text=rng.choice([reason.text, ""]),
                    status=rng.choice(statuses),
                    agent=rng.choice(agents),
                    created_at=received + timedelta(days=rng.randint(0, 6)),
                )


def test_the_one_pass_report_equals_counting_every_row(mixed):
    feedback = Feedback.objects.filter(created_at__gte=at("2026-03-02 00:00"), created_at__lt=at("2026-04-27 00:00"))
    report = feedback_report(feedback, period=PERIOD)

    rows = list(feedback.select_related("agent", "lead"))
    counted = [fb for fb in rows if fb.status not in NOT_COUNTED]
    returns = [fb for fb in counted if fb.feedback_type == FeedbackType.RETURN]
    returned_ids = {fb.lead_id for fb in returns}
    cohort = list(lead_cohort(*PERIOD))

    per_week = Counter((monday(fb.created_at), fb.feedback_type) for fb in counted)
    cohort_weeks = Counter(monday(lead.received_at) for lead in cohort)
    returned_weeks = Counter(monday(lead.received_at) for lead in cohort if lead.pk in returned_ids)
    assert {week.week for week in report.weeks} >= set(cohort_weeks)
    for week in report.weeks:
        assert week.returns == per_week[(week.week, FeedbackType.RETURN)]
        assert week.conversions == per_week[(week.week, FeedbackType.CONVERSION)]
        assert (week.leads, week.returned_leads) == (cohort_weeks[week.week], returned_weeks[week.week])
    assert report.leads == len(cohort)
    assert report.returned_leads == sum(returned_weeks.values())

    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lead in cohort:
        by_source[lead.source_name or "(no source)"][0] += 1
        by_source[lead.source_name or "(no source)"][1] += lead.pk in returned_ids
    assert {row["source"]: [row["leads"], row["returned"]] for row in report.sources} == by_source
    most_returned_first = [row["returned"] for row in report.sources]
    assert most_returned_first == sorted(most_returned_first, reverse=True)

    reasons = Counter(fb.reason_text for fb in returns)
    assert [(row["reason_text"], row["count"]) for row in report.reasons] == sorted(
        reasons.items(), key=lambda item: (-item[1], item[0])
    )[:10]

    for outcome in report.outcomes:
        of_type = Counter(
            "pending" if fb.status in PENDING_STATUSES else fb.status
            for fb in rows
            if fb.feedback_type == outcome["type"]
        )
        assert {key: outcome[key] for key in of_type} == of_type

    per_agent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fb in counted:
        name = fb.agent.get_full_name() if fb.agent else "(no agent: shell or import)"
        per_agent[name][fb.feedback_type == FeedbackType.CONVERSION] += 1
    assert {agent.name: [agent.returns, agent.conversions] for agent in report.agents} == per_agent
    assert [agent.name for agent in report.agents if agent.name != "(no agent: shell or import)"] == [
        "Alex Agent",
        "Olga Other",
    ]
    assert report.totals == {"returns": len(returns), "conversions": len(counted) - len(returns)}


def test_the_money_from_the_same_pass_equals_adding_up_every_lead(mixed):
    feedback = Feedback.objects.all()
    cohort = list(lead_cohort(*PERIOD))
    accepted = Feedback.objects.filter(status=Status.ACCEPTED)
    credited = set(accepted.filter(feedback_type=FeedbackType.RETURN).values_list("lead_id", flat=True))
    converted = set(accepted.filter(feedback_type=FeedbackType.CONVERSION).values_list("lead_id", flat=True))

    money = money_report(feedback, period=PERIOD, cells=cohort_cells(lead_cohort(*PERIOD), feedback))

    for row in money.sources:
        leads = [lead for lead in cohort if (lead.source_name or "(no source)") == row.label]
        priced = [lead for lead in leads if lead.price is not None]
        assert (row.leads, row.priced_leads) == (len(leads), len(priced))
        assert row.spend == sum((lead.price for lead in priced), Decimal("0.00"))
        assert row.credit_expected == sum((lead.price for lead in priced if lead.pk in credited), Decimal("0.00"))
        assert row.conversions == sum(lead.pk in converted for lead in leads)
    assert [row.label for row in money.weeks] == sorted({monday(lead.received_at).isoformat() for lead in cohort})
    assert money.total.leads == len(cohort) == sum(row.leads for row in money.weeks)


def test_the_lead_cohort_is_read_once_for_rates_and_money(mixed, django_assert_num_queries):
    feedback = Feedback.objects.all()
    with django_assert_num_queries(1):
        cells = cohort_cells(lead_cohort(*PERIOD), feedback)
    with django_assert_num_queries(2):  # the feedback, grouped three ways in one query, and its weeks
        feedback_report(feedback, period=PERIOD, cells=cells)
    with django_assert_num_queries(0):
        money_report(feedback, period=PERIOD, cells=cells)


def test_inside_a_transaction_both_passes_run_on_this_connection_one_after_the_other(mixed, django_assert_num_queries):
    feedback = Feedback.objects.all()
    with django_assert_num_queries(3):
        report, cells = feedback_report_with_cells(feedback, period=PERIOD)

    assert report == feedback_report(feedback, period=PERIOD)
    assert cells == cohort_cells(lead_cohort(*PERIOD), feedback)


# Every other test runs inside a transaction, where the two passes are read one after the other.
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="only PostgreSQL reads the two passes at once, on two connections"
)


@pytest.fixture
def tally_reads(monkeypatch) -> list[tuple[threading.Thread, BaseDatabaseWrapper]]:
    """Each read of the feedback's tallies, as (the thread it ran on, that thread's connection)."""
    reads: list[tuple[threading.Thread, BaseDatabaseWrapper]] = []
    fetch = selectors._fetch

    def spy(sql, params):
        reads.append((threading.current_thread(), connections[DEFAULT_DB_ALIAS]))
        return fetch(sql, params)

    monkeypatch.setattr(selectors, "_fetch", spy)
    return reads


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_passes_read_at_once_give_the_same_report(
    mixed, tally_reads, django_assert_num_queries
):
    feedback = Feedback.objects.filter(created_at__gte=at("2026-03-02 00:00"), created_at__lt=at("2026-04-27 00:00"))
    # One read-only transaction (its start and commit among them) whose snapshot is set up and
    # exported, the cohort and the weeks; the feedback's pass went to the other connection.
    with django_assert_num_queries(6):
        report, cells = feedback_report_with_cells(feedback, period=PERIOD)
    [(thread, other)] = tally_reads

    assert thread is not threading.current_thread()
    assert not thread.is_alive()
    assert other is not connections[DEFAULT_DB_ALIAS]
    assert other.connection is None  # closed by its thread
    assert report.leads > 0
    assert report.reasons
    assert report == feedback_report(feedback, period=PERIOD)
    assert cells == cohort_cells(lead_cohort(*PERIOD), feedback)
    # Its weeks counted apart (no feedback before the first day): the same report.
    assert feedback_report_with_cells(feedback, period=PERIOD, first=date(2026, 3, 2))[0] == report


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_failed_read_on_the_other_connection_is_raised_here_and_leaves_nothing_open(monkeypatch):
    reads: list[tuple[threading.Thread, BaseDatabaseWrapper]] = []

    def fail(sql, params):
        reads.append((threading.current_thread(), connections[DEFAULT_DB_ALIAS]))
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        return []

    monkeypatch.setattr(selectors, "_fetch", fail)
    with pytest.raises(DataError, match="division by zero"):
        feedback_report_with_cells(Feedback.objects.all(), period=PERIOD)
    [(thread, other)] = reads

    assert thread is not threading.current_thread()
    assert not thread.is_alive()
    assert other.connection is None
    assert Feedback.objects.count() == 0  # this connection goes on


@on_postgresql
def test_the_tally_joins_the_agents_names_to_its_grouped_rows_not_to_every_feedback(db):
    # Joined inside, every feedback of the period carried its agent's three names through the hashing
    # of the four groupings: a quarter of the tally's time at a million feedbacks (225 -> 165 ms).
    sql, params = selectors._tally_query(Feedback.objects.all())
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    join = next(n for n, line in enumerate(plan) if "Join" in line)
    aggregate = next(n for n, line in enumerate(plan) if "Aggregate" in line)
    assert join < aggregate, "\n".join(plan)  # above it: joined to what the grouping leaves


@on_postgresql
def test_the_weeks_counted_apart_are_the_weeks_grouped(add_feedback, agent, django_assert_num_queries):
    # feedback_per_week(first=…) counts each week through the created_at index on PostgreSQL; the
    # same counts as grouping every row by its week, for any filter on the feedback's own columns,
    # with empty weeks, uncounted statuses, weeks before the first day, and the week's edges.
    rng = random.Random(7)
    today = timezone.localdate()
    statuses = [Status.ACCEPTED, Status.REJECTED, Status.CANCELLED, Status.FAILED, Status.QUEUED, Status.UNCONFIRMED]
    for _ in range(300):
        day = today - timedelta(days=rng.choice([0, 1, 6, 7, 8, 13, 14, 20, 34, 35, 36, 60, 83, 84, 90]))
        at = selectors.start_of(day) + timedelta(minutes=rng.choice([0, 1, 60 * 12, 60 * 24 - 1]))
        add_feedback(
            rng.choice([FeedbackType.RETURN, FeedbackType.CONVERSION]),
            status=rng.choice(statuses),
            created_at=min(at, timezone.now()),
            agent=rng.choice([agent, None]),
        )
    first = today - timedelta(days=84)
    since = Feedback.objects.filter(created_at__gte=selectors.start_of(first))
    for feedback in [
        since,
        since.filter(feedback_type=FeedbackType.RETURN),
        since.filter(agent=agent),
        since.filter(status=Status.CANCELLED),
        since.filter(created_at__lt=selectors.start_of(today - timedelta(days=30))),
        since.filter(pk__lt=0),
    ]:
        grouped = selectors._fill_weeks(selectors.counts_per_week(selectors._bare(feedback).filter(selectors.COUNTED)))
        with django_assert_num_queries(1):
            apart = selectors.feedback_per_week(feedback, first=first)
        assert apart == grouped


@on_postgresql
def test_feedback_dated_after_this_week_is_counted_by_grouping_every_row(add_feedback):
    first = timezone.localdate() - timedelta(days=20)
    add_feedback(created_at=timezone.now() - timedelta(days=3))
    add_feedback(created_at=timezone.now() + timedelta(days=15))  # a clock ahead, an import's date
    feedback = Feedback.objects.filter(created_at__gte=selectors.start_of(first))

    weeks = selectors.feedback_per_week(feedback, first=first)

    assert sum(week.returns for week in weeks) == 2
    assert weeks == selectors._fill_weeks(selectors.counts_per_week(selectors._bare(feedback)))


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_passes_read_at_once_count_the_same_feedback_however_much_arrives_meanwhile(mixed, monkeypatch):
    # The weeks, the cohort and the feedback's pass are read in one snapshot: a return submitted
    # while they are read is in none of them, and the weeks add up to the totals (found in review:
    # read apart, they differed by what arrived in between).
    cohort = selectors.cohort_cells
    lead = Lead.objects.create(event_id=new_event_id(), received_at=at("2026-03-09 12:00"))

    def submit() -> None:  # an agent's submit, on a connection of its own
        try:
            Feedback.objects.create(lead=lead, feedback_type=FeedbackType.RETURN, created_at=at("2026-03-10 12:00"))
        finally:
            connection.close()

    def and_a_return_arrives(*args, **kwargs):
        cells = cohort(*args, **kwargs)
        agent = threading.Thread(target=submit)
        agent.start()
        agent.join()
        return cells

    monkeypatch.setattr(selectors, "cohort_cells", and_a_return_arrives)
    before = Feedback.objects.filter(feedback_type=FeedbackType.RETURN).exclude(status__in=NOT_COUNTED).count()
    report, _ = feedback_report_with_cells(Feedback.objects.all(), period=PERIOD)

    assert Feedback.objects.filter(lead=lead).exists()
    assert report.totals["returns"] == sum(week.returns for week in report.weeks) == before
