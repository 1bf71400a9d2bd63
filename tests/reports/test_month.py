"""Month-end reconciliation: the portal's counts in LeadConduit's columns, by the month LeadConduit answered."""

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.imports.models import ImportJob, ImportKind, ImportRow, ImportStatus, ReconciliationFinding
from feedbackportal.reports import selectors
from tests.helpers import PERMISSION_QUERIES
from tests.reports.conftest import at

URL = reverse("reports:month")


def cells(response, feedback_type: str) -> dict[str, str]:
    row = BeautifulSoup(response.content, "html.parser").select_one(
        f"table.reconciliation tr[data-type={feedback_type}]"
    )
    assert row is not None
    return {str(cell["data-column"]): cell.get_text(strip=True) for cell in row.select("td")}


@pytest.fixture
def november(add_feedback):
    def answered(feedback_type: str, status: str, outcome: str, when: str) -> None:
        add_feedback(feedback_type, status=status, outcome=outcome, created_at=at(when), answered_at=at(when))

    for _ in range(3):
        answered("return", Status.ACCEPTED, "success", "2026-11-10 10:00")
    answered("return", Status.REJECTED, "failure", "2026-11-11 10:00")
    answered("return", Status.ERROR, "error", "2026-11-12 10:00")
    answered("return", Status.ERROR, "", "2026-11-12 11:00")  # an HTTP 406: no result document
    add_feedback("return", status=Status.UNCONFIRMED, created_at=at("2026-11-13 10:00"))
    add_feedback("return", status=Status.FAILED, created_at=at("2026-11-14 10:00"))
    add_feedback("return", status=Status.QUEUED, created_at=at("2026-11-30 23:59"))
    add_feedback("return", status=Status.CANCELLED, created_at=at("2026-11-15 10:00"))
    # unconfirmed, then found in LeadConduit by a manager: accepted with no answer of LeadConduit's
    add_feedback("return", status=Status.ACCEPTED, outcome="", created_at=at("2026-11-16 10:00"))
    # submitted in October, answered in November: LeadConduit counts it in November
    add_feedback(
        "conversion", status=Status.ACCEPTED, created_at=at("2026-10-31 23:58"), answered_at=at("2026-11-01 00:01")
    )
    answered("conversion", Status.REJECTED, "failure", "2026-11-20 10:00")
    # outside the month
    answered("return", Status.ACCEPTED, "success", "2026-10-31 23:59")
    answered("conversion", Status.ACCEPTED, "success", "2026-12-01 00:00")


def test_it_lays_out_the_month_like_leadconduits_report(manager_client, november):
    response = manager_client.get(URL, {"month": "2026-11"})

    assert cells(response, "return") == {
        "submitted": "11",
        "return-received-success": "3",
        "return-received-failure": "1",
        "return-received-error": "1",
        "refused": "1",
        "confirmed": "1",
        "unconfirmed": "1",
        "pending": "1",
        "failed": "1",
        "cancelled": "1",
        "confirmed-by-export": "0",
    }
    assert cells(response, "conversion") == {
        "submitted": "2",
        "conversion-received-success": "1",
        "conversion-received-failure": "1",
        "conversion-received-error": "0",
        "refused": "0",
        "confirmed": "0",
        "unconfirmed": "0",
        "pending": "0",
        "failed": "0",
        "cancelled": "0",
        "confirmed-by-export": "0",
    }
    names = BeautifulSoup(response.content, "html.parser").select(".lc-names div")
    assert [name.get_text(" ", strip=True) for name in names][:3] == [
        "return-received-success 3",
        "return-received-failure 1",
        "return-received-error 1",
    ]


def test_it_links_to_the_months_around_and_defaults_to_this_one(manager_client, november):
    page = BeautifulSoup(manager_client.get(URL, {"month": "2026-01"}).content, "html.parser")
    assert page.select_one("a[rel=prev]")["href"] == "?month=2025-12"
    assert page.select_one("a[rel=next]")["href"] == "?month=2026-02"

    this_month = timezone.localdate().strftime("%B %Y")
    for bad in ("", "2026-13", "soon", "2026-11-05"):
        response = manager_client.get(URL, {"month": bad})
        assert response.status_code == 200
        heading = BeautifulSoup(response.content, "html.parser").h1.get_text()
        assert heading == f"Month-end reconciliation: {this_month}"


def test_the_month_view_makes_a_fixed_number_of_queries(manager_client, november, django_assert_num_queries):
    # session, user, permissions, worker heartbeat, the month's counts, when it was last reconciled,
    # the nav link's count
    with django_assert_num_queries(6 + PERMISSION_QUERIES):
        manager_client.get(URL, {"month": "2026-11"})


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "10000-01"])
def test_a_month_at_the_edge_of_the_calendar_shows_this_month_instead(manager_client, month):
    response = manager_client.get(URL, {"month": month})
    assert response.status_code == 200
    heading = BeautifulSoup(response.content, "html.parser").h1.get_text()
    assert heading == f"Month-end reconciliation: {timezone.localdate():%B %Y}"


def reconciliation(status: str = ImportStatus.DONE, *, rows_at: str, finished: str) -> ImportJob:
    job = ImportJob.objects.create(
        kind=ImportKind.RECONCILIATION, status=status, original_name="export.csv", finished_at=at(finished)
    )
    ImportRow.objects.create(job=job, row_number=2, result="read", at=at(rows_at))
    return job


def test_it_counts_per_type_what_leadconduits_export_confirmed(manager_client, add_feedback):
    job = reconciliation(rows_at="2026-11-10 10:00", finished="2026-12-02 09:00")
    unfinished = reconciliation(ImportStatus.RUNNING, rows_at="2026-11-10 10:00", finished="2026-12-03 09:00")

    def answered(feedback_type: str, status: str, group: str | None, reconciled_by: ImportJob = job) -> Feedback:
        when = at("2026-11-10 10:00")
        feedback = add_feedback(feedback_type, status=status, created_at=when, answered_at=when)
        if group:
            ReconciliationFinding.objects.create(
                job=reconciled_by, group=group, event_id=feedback.lead.event_id, feedback_type=feedback_type,
                feedback=feedback, row_numbers=[2],
            )  # fmt: skip
        return feedback

    answered("return", Status.ACCEPTED, "agree")
    answered("return", Status.REJECTED, "agree")
    answered("return", Status.ACCEPTED, "confirmable")  # marked delivered from the export
    answered("return", Status.ACCEPTED, "differs")
    answered("return", Status.ACCEPTED, None)
    answered("return", Status.ACCEPTED, "agree", reconciled_by=unfinished)
    conversion = answered("conversion", Status.ACCEPTED, "agree")
    second = ImportJob.objects.create(kind=ImportKind.RECONCILIATION, status=ImportStatus.DONE, original_name="again")
    ReconciliationFinding.objects.create(
        job=second, group="agree", event_id="x", feedback_type="conversion", feedback=conversion
    )  # reconciled twice, counted once

    response = manager_client.get(URL, {"month": "2026-11"})

    assert cells(response, "return")["confirmed-by-export"] == "3"
    assert cells(response, "conversion")["confirmed-by-export"] == "1"


def test_it_shows_when_the_month_was_last_reconciled(manager_client):
    reconciliation(rows_at="2026-11-03 10:00", finished="2026-12-01 09:00")
    latest = reconciliation(rows_at="2026-11-28 10:00", finished="2026-12-02 09:30")
    reconciliation(ImportStatus.FAILED, rows_at="2026-11-28 10:00", finished="2026-12-03 09:00")
    reconciliation(rows_at="2026-10-31 10:00", finished="2026-12-04 09:00")

    page = BeautifulSoup(manager_client.get(URL, {"month": "2026-11"}).content, "html.parser")
    last = page.select_one(".last-reconciled")
    assert last is not None
    assert last.get_text() == (
        f"Last reconciled with LeadConduit's export: Dec 2, 2026 09:30 (reconciliation #{latest.pk})."
    )
    assert last.a is not None
    assert last.a["href"] == latest.get_absolute_url()

    page = BeautifulSoup(manager_client.get(URL, {"month": "2026-09"}).content, "html.parser")
    never = page.select_one(".last-reconciled")
    assert never is not None
    assert never.get_text(" ", strip=True).startswith("Not reconciled with LeadConduit's export")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")
def test_the_month_is_found_through_the_answered_at_and_created_at_indexes(make_lead):
    lead = make_lead()
    # A feedback falls in the month it was answered, or submitted when unanswered. Tested as one
    # COALESCE, no index served it: at a million feedbacks every row was read (a parallel scan of the
    # whole table, 120 ms for 3,700 rows). Each half of it has an index.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO feedback_feedback (lead_id, feedback_type, reason_text, note, idempotency_key, status,
                                           status_message, outcome, outcome_reason, attempt_count,
                                           attempts_before_resend, task_id, created_at, updated_at, answered_at)
            SELECT %s, 'return', '', '', gen_random_uuid(), 'rejected', '', 'failure', '', 1, 0, '',
                   now() - n * interval '10 minutes', now(),
                   CASE WHEN n %% 5 > 0 THEN now() - n * interval '9 minutes' END
            FROM generate_series(1, 30000) AS n
            """,
            [lead.pk],
        )
        cursor.execute("ANALYZE feedback_feedback")
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection) as queries:
        selectors.reconciliation(timezone.localdate().replace(day=1))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {queries.captured_queries[0]['sql']}")
        text = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Cond: ((answered_at >=" in text
    assert "Seq Scan on feedback_feedback" not in text
