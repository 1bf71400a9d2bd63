"""Month-end reconciliation: the portal's counts in LeadConduit's columns, by the month LeadConduit answered."""

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Status
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
    # session, user, permissions (2), worker heartbeat, the month's counts, the nav link's count
    with django_assert_num_queries(7):
        manager_client.get(URL, {"month": "2026-11"})


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "10000-01"])
def test_a_month_at_the_edge_of_the_calendar_shows_this_month_instead(manager_client, month):
    response = manager_client.get(URL, {"month": month})
    assert response.status_code == 200
    heading = BeautifulSoup(response.content, "html.parser").h1.get_text()
    assert heading == f"Month-end reconciliation: {timezone.localdate():%B %Y}"
