"""Rates and charts: the numbers, the SVG drawn from them (CSP-clean), the flagged agents, pinned queries."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Reason, Status
from feedbackportal.reports.charts import bar_chart, column_chart, nice_ceiling
from tests.helpers import PERMISSION_QUERIES
from tests.reports.conftest import at

URL = reverse("reports:rates")
MARCH = {"created_from": "2026-03-01", "created_to": "2026-03-31"}


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def table(page: BeautifulSoup, name: str) -> list[list[str]]:
    return [
        [cell.get_text(" ", strip=True) for cell in row.select("th, td")]
        for row in page.select(f"table[data-table={name}] tbody tr")
    ]


def figure(page: BeautifulSoup, name: str) -> str:
    element = page.select_one(f"[data-figure={name}]")
    assert element is not None
    return element.get_text(strip=True)


@pytest.fixture
def march(add_feedback, make_lead, agent):
    """Ten leads from one source received in March's first week, three returned (one cancelled), two converted."""
    leads = [make_lead(source_name="Acme Leads", received_at=at("2026-03-02 09:00")) for _ in range(10)]
    make_lead(source_name="Budget Leads", received_at=at("2026-03-03 09:00"))
    wrong = Reason.objects.get(label="Wrong number")
    duplicate = Reason.objects.get(label="Duplicate lead")
    add_feedback(lead=leads[0], reason=wrong, created_at=at("2026-03-03 10:00"), agent=agent)
    add_feedback(lead=leads[1], reason=wrong, status=Status.REJECTED, created_at=at("2026-03-04 10:00"), agent=agent)
    add_feedback(lead=leads[2], reason=duplicate, created_at=at("2026-03-10 10:00"), agent=agent)
    add_feedback(lead=leads[3], reason=duplicate, status=Status.CANCELLED, created_at=at("2026-03-10 11:00"))
    add_feedback("conversion", lead=leads[4], created_at=at("2026-03-11 10:00"), agent=agent)
    add_feedback("conversion", lead=leads[5], status=Status.UNCONFIRMED, created_at=at("2026-03-12 10:00"))
    return leads


def test_it_counts_returns_conversions_and_the_return_rate(manager_client, march):
    page = html(manager_client.get(URL, MARCH))

    assert figure(page, "returns") == "3"  # the cancelled one is not counted
    assert figure(page, "conversions") == "2"
    assert figure(page, "leads") == "11"
    assert figure(page, "return-rate") == "27.3%"  # 3 of 11 leads received in March
    assert table(page, "weekly") == [["2026-03-02", "2", "0"], ["2026-03-09", "1", "2"]]
    assert table(page, "rate") == [["2026-03-02", "11", "3", "27.3%"]]
    assert table(page, "sources") == [["Acme Leads", "10", "3", "30.0%"], ["Budget Leads", "1", "0", "0.0%"]]


def test_top_reasons_and_leadconduits_answers(manager_client, march):
    page = html(manager_client.get(URL, MARCH))

    assert table(page, "reasons") == [["Wrong number", "2"], ["Duplicate lead", "1"]]
    assert table(page, "outcomes") == [
        ["Return", "2", "1", "0", "0", "0", "0", "1"],
        ["Conversion", "1", "0", "0", "1", "0", "0", "0"],
    ]


def test_the_charts_are_drawn_from_the_same_numbers(manager_client, march):
    page = html(manager_client.get(URL, MARCH))

    weekly = [bar.title.get_text() for bar in page.select("svg[data-chart=weekly] rect.bar")]
    assert weekly == ["Mar 2: 2 returns", "Mar 2: 0 conversions", "Mar 9: 1 returns", "Mar 9: 2 conversions"]
    reasons = page.select("svg[data-chart=reasons] rect.bar")
    assert [bar.title.get_text() for bar in reasons] == ["Wrong number: 2", "Duplicate lead: 1"]
    assert float(reasons[0]["width"]) == pytest.approx(2 * float(reasons[1]["width"]))
    outcome_parts = [bar.title.get_text() for bar in page.select("svg[data-chart=outcomes] rect.bar")]
    assert outcome_parts == [
        "Return: 2 accepted",
        "Return: 1 rejected",
        "Conversion: 1 accepted",
        "Conversion: 1 unconfirmed",
    ]
    assert page.select_one("svg[data-chart=sources] line.marker") is not None


def test_the_charts_live_under_the_content_security_policy(manager_client, march):
    response = manager_client.get(URL, MARCH)

    page = html(response)
    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert page.select("[style]") == []
    assert page.select("style") == []
    assert [script for script in page.select("script") if not script.get("src")] == []
    assert all(not attr.startswith("on") for element in page.find_all(True) for attr in element.attrs)
    assert len(page.select("svg.chart-svg")) == 6
    for svg in page.select("svg.chart-svg"):
        assert svg["role"] == "img"
        assert svg.select_one("title").get_text()


def test_an_agent_far_above_the_teams_return_share_is_flagged(manager_client, add_feedback, agent):
    steady = User.objects.create_user("steady", first_name="Sam", last_name="Steady")
    when = timezone.now() - timedelta(days=1)
    for n in range(12):  # Alex: 9 returns of 12
        add_feedback("return" if n < 9 else "conversion", agent=agent, created_at=when)
    for n in range(30):  # Sam: 3 returns of 30
        add_feedback("return" if n < 3 else "conversion", agent=steady, created_at=when)

    page = html(manager_client.get(URL))

    assert table(page, "agents") == [
        ["Alex Agent", "9", "3", "75.0%", "Far above team"],
        ["Sam Steady", "3", "27", "10.0%", ""],
    ]
    bars = page.select("svg[data-chart=agents] rect.bar")
    assert [bar["class"] for bar in bars] == [["bar", "series-flagged"], ["bar", "series-return"]]
    assert "team's (28.6%)" in page.select_one("#agents-heading").find_next("p").get_text()


def test_a_few_returns_are_not_enough_to_flag_an_agent(manager_client, add_feedback, agent):
    steady = User.objects.create_user("steady")
    for _ in range(3):
        add_feedback("return", agent=agent)
    for n in range(20):
        add_feedback("return" if n < 2 else "conversion", agent=steady)

    page = html(manager_client.get(URL))

    assert [row[-1] for row in table(page, "agents")] == ["", ""]


def test_without_dates_it_covers_the_last_twelve_weeks(manager_client, add_feedback):
    add_feedback(created_at=timezone.now() - timedelta(weeks=13))
    add_feedback(created_at=timezone.now() - timedelta(weeks=11))

    page = html(manager_client.get(URL))

    assert figure(page, "returns") == "1"
    today = timezone.localdate()
    assert page.select_one("input[name=created_to]")["value"] == today.isoformat()
    assert page.select_one("input[name=created_from]")["value"] == (today - timedelta(days=83)).isoformat()


def test_the_filters_apply_to_the_rates_too(manager_client, march, agent):
    page = html(manager_client.get(URL, MARCH | {"agent": agent.pk}))

    assert figure(page, "returns") == "3"
    assert figure(page, "conversions") == "1"
    assert table(page, "outcomes")[1] == ["Conversion", "1", "0", "0", "0", "0", "0", "0"]


def test_the_received_date_picks_the_lead_cohort(manager_client, march, make_lead):
    make_lead(received_at=at("2026-02-20 09:00"))

    page = html(manager_client.get(URL, {"received_from": "2026-02-01", "received_to": "2026-02-28"}))

    assert figure(page, "leads") == "1"
    assert figure(page, "returns") == "0"
    assert figure(page, "return-rate") == "0.0%"


def test_an_htmx_request_gets_only_the_results(manager_client, march):
    page = html(manager_client.get(URL, MARCH, headers={"HX-Request": "true"}))

    assert page.find().get("id") == "rates-results"
    assert page.select_one("form") is None


def test_nothing_to_report_says_so(manager_client):
    page = html(manager_client.get(URL))

    assert figure(page, "return-rate") == "—"
    assert "Nothing to chart" in page.get_text()


@pytest.mark.parametrize("feedbacks", [3, 60])
def test_the_rates_make_a_fixed_number_of_queries(
    manager_client, add_feedback, agent, django_assert_num_queries, feedbacks
):
    for n in range(feedbacks):
        add_feedback("return" if n % 3 else "conversion", agent=agent if n % 2 else None)
    # session, user, permissions, worker heartbeat, reasons and agents for the form,
    # the feedback in one pass (per agent, reason and answer) and its weeks, whether any feedback
    # was given after the period (none: the cohort reads its leads' feedback summaries), the lead
    # cohort in one pass (per week and source: rates and money), the nav link's count,
    # the capped sources (none: so no query for their returns)
    with django_assert_num_queries(11 + PERMISSION_QUERIES):
        manager_client.get(URL)


def test_axis_ticks_are_round_numbers():
    assert [nice_ceiling(value) for value in (0, 0.3, 1, 3, 7, 11, 26, 480, 1001)] == [
        1,
        0.5,
        1,
        5,
        10,
        20,
        50,
        500,
        2000,
    ]
    chart = column_chart(["a"], [("s", "n", [37])])
    assert [tick.label for tick in chart.ticks] == ["0", "12.5", "25", "37.5", "50"]
    rates = bar_chart([("x", 0.25, "s")], percent=True, marker=0.1)
    assert rates.ticks[-1].label == "25%"
    assert rates.marker is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's week-by-week count")
def test_the_rates_count_the_periods_weeks_apart_and_the_rest_in_one_pass(manager_client, add_feedback):
    # Grouped with the agents, reasons and answers, every feedback's week was computed and hashed: a
    # third of the rates page's longest pass at a million feedbacks. Its weeks are counted apart.
    add_feedback()
    with CaptureQueriesContext(connection) as queries:
        assert manager_client.get(URL).status_code == 200
    sqls = [query["sql"] for query in queries.captured_queries]
    assert [sql for sql in sqls if "LATERAL" in sql]
    (tally,) = [sql for sql in sqls if "GROUPING" in sql]
    assert "DATE_TRUNC" not in tally
