"""Each lead's newest counted return, accepted return and accepted conversion, kept by the database
(triggers of migration leads/0012) however a feedback is written, and the rates' lead cohort read
from them: it must equal looking every lead up among the feedback."""

import importlib
import random
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.leads.models import Lead, LeadView
from feedbackportal.leads.services import lead_view_record
from feedbackportal.reports.filters import history_filter
from feedbackportal.reports.forms import with_default_period
from feedbackportal.reports.selectors import NOT_COUNTED, cohort_cells, lead_cohort
from tests.helpers import at_once, make_feedback


def summary(lead: Lead) -> tuple:
    lead.refresh_from_db()
    return (lead.last_counted_return_at, lead.last_accepted_return_at, lead.last_accepted_conversion_at)


def newest(lead: Lead) -> tuple:
    """What the summary should hold, from the lead's feedback as it is now."""
    feedback = list(Feedback.objects.filter(lead=lead))

    def latest(wanted) -> object:
        return max((fb.created_at for fb in feedback if wanted(fb)), default=None)

    return (
        latest(lambda fb: fb.feedback_type == FeedbackType.RETURN and fb.status not in NOT_COUNTED),
        latest(lambda fb: fb.feedback_type == FeedbackType.RETURN and fb.status == Status.ACCEPTED),
        latest(lambda fb: fb.feedback_type == FeedbackType.CONVERSION and fb.status == Status.ACCEPTED),
    )


def test_every_write_of_a_feedback_keeps_its_leads_summary(make_lead, return_reason, conversion_reason):
    lead, other = make_lead(), make_lead()
    assert summary(lead) == (None, None, None)
    now = timezone.now()

    returned = make_feedback(lead, return_reason, status=Status.QUEUED, created_at=now - timedelta(days=2))
    assert summary(lead) == (returned.created_at, None, None)

    Feedback.objects.filter(pk=returned.pk).update(status=Status.ACCEPTED)  # as the worker writes it
    assert summary(lead) == (returned.created_at, returned.created_at, None)

    converted = make_feedback(lead, conversion_reason, status=Status.ACCEPTED, created_at=now - timedelta(days=1))
    assert summary(lead) == (returned.created_at, returned.created_at, converted.created_at)

    returned.status = Status.CANCELLED
    returned.save()
    assert summary(lead) == (None, None, converted.created_at)

    rejected = make_feedback(lead, return_reason, status=Status.REJECTED, created_at=now)
    assert summary(lead) == (rejected.created_at, None, converted.created_at)

    converted.lead = other  # moved to another lead: both leads change
    converted.save()
    assert summary(lead) == (rejected.created_at, None, None)
    assert summary(other) == (None, None, converted.created_at)

    rejected.delete()
    returned.delete()
    assert summary(lead) == (None, None, None)


def test_saving_a_lead_read_before_its_feedback_changed_keeps_the_summary(make_lead, return_reason):
    lead = make_lead()
    stale = Lead.objects.get(pk=lead.pk)
    make_feedback(lead, return_reason, status=Status.ACCEPTED)

    stale.first_name = "Renamed"
    stale.save()  # as the admin or an intake redelivery saves a lead

    assert summary(lead) == newest(lead)
    assert lead.first_name == "Renamed"


@pytest.fixture
def recent(make_lead, agent):
    """Leads received over the last 14 weeks (beyond the rates' default 12) from three sources, with
    none to three feedbacks each of any type and status, some dated before their lead came in; then
    some are changed, moved or deleted, as the worker, the managers and the admin do."""
    rng = random.Random(12)
    now = timezone.now()
    reasons = list(Reason.objects.all())
    leads, feedback = [], []
    for n in range(130):
        received = now - timedelta(hours=18 * n + 1)
        lead = make_lead(
            source_name=rng.choice(["Acme Leads", "Budget Leads", ""]),
            received_at=received,
            price=rng.choice([None, Decimal("12.50"), Decimal("7.35")]),
        )
        leads.append(lead)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            reason = rng.choice(reasons)
            try:
                with transaction.atomic():
                    feedback.append(
                        Feedback.objects.create(
                            lead=lead,
                            feedback_type=reason.feedback_type,
                            reason=reason,
                            reason_text=reason.text,
                            status=rng.choice(list(Status)),
                            agent=agent,
                            created_at=min(now, received + timedelta(hours=rng.randint(-40, 500))),
                        )
                    )
            except IntegrityError:  # a second live feedback of a type on a lead
                pass
    for fb in rng.sample(feedback, 40):
        try:
            with transaction.atomic():
                Feedback.objects.filter(pk=fb.pk).update(status=rng.choice(list(Status)))
        except IntegrityError:
            pass
    for fb in rng.sample(feedback, 10):
        Feedback.objects.filter(pk=fb.pk).update(lead=rng.choice(leads), status=Status.REJECTED)
    Feedback.objects.filter(pk__in=[fb.pk for fb in rng.sample(feedback, 10)]).delete()
    return leads


def _day(days_ago: int) -> str:
    return (timezone.localdate() - timedelta(days=days_ago)).isoformat()


@pytest.mark.parametrize(
    "query",
    [
        "",  # the rates page as it opens: the last 12 weeks
        f"created_from={_day(30)}",
        f"created_from={_day(60)}&created_to={_day(0)}",
        f"received_from={_day(80)}&received_to={_day(10)}",
        f"received_from={_day(45)}",
        f"received_to={_day(20)}",
        f"received_from={_day(70)}&created_from={_day(40)}",
    ],
)
def test_the_cohort_read_from_the_summaries_equals_looking_every_lead_up(recent, query):
    for lead in recent:
        assert summary(lead) == newest(lead)
    filters = history_filter(with_default_period(QueryDict(query)))
    since = filters.all_feedback_since()
    assert since is not None
    cohort = lead_cohort(*filters.cohort_period())

    looked_up = cohort_cells(cohort, filters.qs)
    summarized = cohort_cells(cohort, filters.qs, since=since)

    assert sorted(summarized, key=repr) == sorted(looked_up, key=repr)
    assert sum(cell.returned for cell in looked_up) > 0
    assert sum(cell.converted for cell in looked_up) + sum(cell.credit for cell in looked_up) > 0


@pytest.mark.parametrize(
    "query",
    [
        "type=return",
        "status=accepted",
        "outcome=success",
        "q=Smith",
        f"created_to={_day(3)}",  # feedback given since then is left out, which no summary can tell
    ],
)
def test_any_other_filter_looks_every_lead_up(recent, query):
    assert history_filter(with_default_period(QueryDict(query))).all_feedback_since() is None


def test_a_past_end_with_no_feedback_after_it_reads_the_summaries(make_lead, return_reason):
    old = make_lead(received_at=timezone.now() - timedelta(days=40))
    make_feedback(old, return_reason, status=Status.ACCEPTED, created_at=timezone.now() - timedelta(days=30))
    filters = history_filter(QueryDict(f"created_from={_day(50)}&created_to={_day(20)}"))
    assert filters.all_feedback_since() is not None


def cohort_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries if 'FROM "leads_lead"' in q["sql"] and "GROUP BY" in q["sql"]]


def test_the_rates_and_money_read_the_cohort_from_the_summaries_unless_filtered(
    manager_client, make_lead, return_reason
):
    make_feedback(make_lead(price=Decimal(5)), return_reason, status=Status.ACCEPTED)
    for url in (reverse("reports:rates"), reverse("reports:money_export")):
        [cohort] = cohort_queries(manager_client, url)
        assert "feedback_feedback" not in cohort
        [cohort] = cohort_queries(manager_client, f"{url}?type=return")
        assert "feedback_feedback" in cohort


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_summary_of_leads_that_had_feedback_before_it(return_reason, conversion_reason):
    # Its triggers off (as before the migration), feedback is written; the migration's fill sets it.
    migration = importlib.import_module("feedbackportal.leads.migrations.0012_feedback_summary")
    with connection.schema_editor() as editor:
        migration.backwards(None, editor)
    try:
        leads = [Lead.objects.create(event_id=f"{n:024x}") for n in range(1, 4)]
        make_feedback(leads[0], return_reason, status=Status.ACCEPTED)
        make_feedback(leads[1], conversion_reason, status=Status.ACCEPTED)
        make_feedback(leads[1], return_reason, status=Status.REJECTED)
        assert [summary(lead) for lead in leads] == [(None, None, None)] * 3
    finally:
        with connection.schema_editor() as editor:
            migration.forwards(None, editor)
    assert [summary(lead) for lead in leads] == [newest(lead) for lead in leads]
    assert summary(leads[1])[0] is not None
    assert summary(leads[1])[2] is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_feedbacks_of_one_lead_changed_at_once_leave_its_summary_right(return_reason, conversion_reason):
    for round_ in range(10):
        lead = Lead.objects.create(event_id=f"{round_ + 1:024x}")
        returned = make_feedback(lead, return_reason, status=Status.SENDING)
        converted = make_feedback(lead, conversion_reason, status=Status.SENDING)

        at_once(
            lambda pk=returned.pk: Feedback.objects.filter(pk=pk).update(status=Status.ACCEPTED),
            lambda pk=converted.pk: Feedback.objects.filter(pk=pk).update(status=Status.ACCEPTED),
        )

        assert summary(lead) == (returned.created_at, returned.created_at, converted.created_at)


def feedback_rows_read() -> int:
    """Rows of the feedback table read so far in this transaction (PostgreSQL's own count)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = 'feedback_feedback'"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row counts")
def test_a_new_feedback_raises_the_summary_without_reading_the_leads_other_feedback(make_lead, return_reason):
    # The export test loads 100,000 feedbacks of one lead in one statement: read again in full for
    # each row, they never finished loading.
    lead = make_lead()
    now = timezone.now()
    for n in range(300):
        make_feedback(lead, return_reason, status=Status.REJECTED, created_at=now - timedelta(minutes=n))
    before = feedback_rows_read()
    newer = make_feedback(lead, return_reason, status=Status.SENDING, created_at=now + timedelta(minutes=1))
    Feedback.objects.filter(pk=newer.pk).update(status=Status.ACCEPTED)  # as the worker records the answer

    assert feedback_rows_read() - before < 50
    assert summary(lead) == newest(lead)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks")
@pytest.mark.django_db(transaction=True)
def test_a_feedback_being_written_does_not_hold_up_what_else_points_at_its_lead(return_reason, agent):
    # The trigger locks the lead's row until the feedback's transaction ends. FOR UPDATE would also
    # keep out every row that refers to the lead (their foreign key check): an agent opening the
    # lead waited for the whole of that transaction.
    lead = Lead.objects.create(event_id=f"{77:024x}")
    written, release = threading.Event(), threading.Event()

    def write() -> None:
        try:
            with transaction.atomic():
                make_feedback(lead, return_reason, status=Status.QUEUED)
                written.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.wait(10)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            lead_view_record(lead=lead, user=agent)
    finally:
        release.set()
        writer.join(10)
    assert LeadView.objects.filter(lead=lead, user=agent).exists()
