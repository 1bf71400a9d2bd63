"""The managers' history: every feedback, filters that combine, in the URL, swapped by htmx, paged, pinned queries."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.reports.forms import DEFAULT_WEEKS
from feedbackportal.reports.views import CappedPaginator
from tests.helpers import PERMISSION_QUERIES
from tests.reports.conftest import at

URL = reverse("reports:history")


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def rows(response) -> list[int]:
    return [
        int(str(row["id"]).removeprefix("feedback-")) for row in html(response).select("table.report-history tbody tr")
    ]


def ids(*feedbacks: Feedback) -> list[int]:
    return [feedback.pk for feedback in feedbacks]


def test_it_lists_every_feedback_newest_first_with_what_a_manager_needs(manager_client, add_feedback, agent):
    older = add_feedback(created_at=at("2026-03-02 09:00"), agent=agent)
    newer = add_feedback(
        "conversion",
        status=Status.REJECTED,
        created_at=at("2026-03-03 10:30"),
        outcome_reason="Must provide return within 7 days",
        answered_at=at("2026-03-03 10:31"),
    )

    response = manager_client.get(URL)

    assert response.status_code == 200
    assert rows(response) == ids(newer, older)
    cells = [cell.get_text(" ", strip=True) for cell in html(response).select(f"tr#feedback-{newer.pk} td")]
    lead = newer.lead
    assert cells == [
        "2026-03-03 10:30",
        lead.full_name,
        lead.event_id,
        timezone.localtime(lead.received_at).strftime("%Y-%m-%d"),
        "Conversion",
        "Sale closed",
        "—",
        "Rejected by LeadConduit",
        "failure : Must provide return within 7 days",
        "2026-03-03 10:31",
    ]
    assert html(response).select_one(f"tr#feedback-{older.pk} td:nth-of-type(7)").get_text(strip=True) == "Alex Agent"


def test_it_filters_by_feedback_date_whole_days_inclusive(manager_client, add_feedback):
    before = add_feedback(created_at=at("2026-03-01 23:59"))
    first = add_feedback(created_at=at("2026-03-02 00:00"))
    last = add_feedback(created_at=at("2026-03-04 23:59"))
    after = add_feedback(created_at=at("2026-03-05 00:00"))

    response = manager_client.get(URL, {"created_from": "2026-03-02", "created_to": "2026-03-04"})

    assert rows(response) == ids(last, first)
    assert set(rows(manager_client.get(URL, {"created_to": "2026-03-01"}))) == {before.pk}
    assert set(rows(manager_client.get(URL, {"created_from": "2026-03-05"}))) == {after.pk}


def test_it_filters_by_the_date_the_lead_was_received(manager_client, add_feedback):
    old_lead = add_feedback(received_at=at("2026-01-10 12:00"), created_at=at("2026-03-02 10:00"))
    new_lead = add_feedback(received_at=at("2026-02-27 12:00"), created_at=at("2026-03-02 11:00"))

    response = manager_client.get(URL, {"received_from": "2026-02-01", "received_to": "2026-02-28"})

    assert rows(response) == ids(new_lead)
    assert rows(manager_client.get(URL, {"received_to": "2026-01-31"})) == ids(old_lead)


def test_both_time_bases_combine(manager_client, add_feedback):
    add_feedback(received_at=at("2026-02-10 12:00"), created_at=at("2026-02-11 10:00"))  # returned too early
    wanted = add_feedback(received_at=at("2026-02-10 12:00"), created_at=at("2026-03-02 10:00"))
    add_feedback(received_at=at("2026-03-01 12:00"), created_at=at("2026-03-02 10:00"))  # lead too new

    response = manager_client.get(
        URL,
        {"received_from": "2026-02-01", "received_to": "2026-02-28", "created_from": "2026-03-01"},
    )

    assert rows(response) == ids(wanted)


def test_it_filters_by_type(manager_client, add_feedback):
    returned = add_feedback("return")
    converted = add_feedback("conversion")

    assert rows(manager_client.get(URL, {"type": "return"})) == ids(returned)
    assert rows(manager_client.get(URL, {"type": "conversion"})) == ids(converted)


def test_it_filters_by_reason(manager_client, add_feedback):
    wrong_number = Reason.objects.get(label="Wrong number")
    duplicate = Reason.objects.get(label="Duplicate lead")
    wanted = add_feedback(reason=duplicate)
    add_feedback(reason=wrong_number)

    assert rows(manager_client.get(URL, {"reason": duplicate.pk})) == ids(wanted)


@pytest.mark.parametrize("status", [Status.ACCEPTED, Status.REJECTED, Status.UNCONFIRMED, Status.FAILED])
def test_it_filters_by_status(manager_client, add_feedback, status):
    statuses = (Status.ACCEPTED, Status.REJECTED, Status.UNCONFIRMED, Status.FAILED)
    made = {value: add_feedback(status=value) for value in statuses}

    assert rows(manager_client.get(URL, {"status": status})) == ids(made[status])


@pytest.mark.parametrize(("outcome", "expected"), [("success", "a"), ("failure", "r"), ("error", "e"), ("none", "u")])
def test_it_filters_by_leadconduits_outcome(manager_client, add_feedback, outcome, expected):
    made = {
        "a": add_feedback(status=Status.ACCEPTED),
        "r": add_feedback(status=Status.REJECTED),
        "e": add_feedback(status=Status.ERROR, outcome="error", outcome_reason="Something broke"),
        "u": add_feedback(status=Status.UNCONFIRMED),
    }

    assert rows(manager_client.get(URL, {"outcome": outcome})) == ids(made[expected])


def test_it_filters_by_agent(manager_client, add_feedback, agent):
    other = User.objects.create_user("agent2", first_name="Bo", last_name="Other")
    mine = add_feedback(agent=agent)
    add_feedback(agent=other)

    assert rows(manager_client.get(URL, {"agent": agent.pk})) == ids(mine)


@pytest.mark.parametrize("query", ["name", "phone", "email", "event id", "event id prefix"])
def test_it_finds_feedback_by_the_lead(manager_client, add_feedback, make_lead, query):
    lead = make_lead(first_name="Wilhelmina", last_name="Quist", email="w.quist@example.com", phone="(312) 867-5309")
    wanted = add_feedback(lead=lead)
    add_feedback()
    text = {
        "name": "Quist, Wil",
        "phone": "312-867-5309",
        "email": "W.Quist@example.com",
        "event id": lead.event_id.upper(),
        "event id prefix": lead.event_id[:8],
    }[query]

    assert rows(manager_client.get(URL, {"q": text})) == ids(wanted)


def test_every_filter_combines(manager_client, add_feedback, make_lead, agent):
    lead = make_lead(last_name="Zebra", received_at=at("2026-02-15 09:00"))
    wanted = add_feedback(lead=lead, agent=agent, status=Status.REJECTED, created_at=at("2026-03-02 10:00"))
    add_feedback(lead=lead, agent=agent, status=Status.ACCEPTED, created_at=at("2026-03-02 11:00"))  # status
    add_feedback(lead=lead, status=Status.REJECTED, created_at=at("2026-03-02 12:00"))  # agent
    add_feedback("conversion", lead=lead, agent=agent, status=Status.REJECTED, created_at=at("2026-03-02 13:00"))
    add_feedback(agent=agent, status=Status.REJECTED, created_at=at("2026-03-02 14:00"))  # another lead

    response = manager_client.get(
        URL,
        {
            "created_from": "2026-03-01",
            "created_to": "2026-03-31",
            "received_from": "2026-02-01",
            "received_to": "2026-02-28",
            "type": "return",
            "reason": wanted.reason_id,
            "status": "rejected",
            "outcome": "failure",
            "agent": agent.pk,
            "q": "Zebra",
        },
    )

    assert rows(response) == ids(wanted)


def test_the_form_shows_the_filters_from_the_url(manager_client, agent):
    page = html(manager_client.get(URL, {"created_from": "2026-03-01", "type": "return", "agent": agent.pk, "q": "Jo"}))

    assert page.select_one("input[name=created_from]")["value"] == "2026-03-01"
    assert page.select_one("select[name=type] option[selected]")["value"] == "return"
    assert page.select_one("select[name=agent] option[selected]").get_text() == "Alex Agent"
    assert page.select_one("input[name=q]")["value"] == "Jo"
    form = page.select_one("form.report-filters")
    assert (form["method"], form["action"], form["hx-get"], form["hx-push-url"]) == ("get", URL, URL, "true")


def test_a_bad_filter_value_is_reported_and_left_out(manager_client, add_feedback):
    made = add_feedback()

    response = manager_client.get(URL, {"created_from": "yesterday", "status": "lost"})

    assert response.status_code == 200
    page = html(response)
    assert page.select_one("input[name=created_from]").find_next("div", class_="error") is not None
    assert len(page.select(".report-filters .error")) == 2
    assert rows(response) == ids(made)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (URL, "created_to"),
        (URL, "received_from"),
        (reverse("reports:rates"), "created_to"),
        (reverse("reports:export"), "received_to"),
    ],
)
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_date_at_the_edge_of_the_calendar_is_refused_not_a_crash(manager_client, add_feedback, url, name, day):
    add_feedback()
    response = manager_client.get(url, {name: day})
    assert response.status_code == 200
    if url != reverse("reports:export"):
        assert (
            "between 1900 and 9998"
            in html(response).select_one(f"input[name={name}]").find_next("div", class_="error").get_text()
        )


def test_an_htmx_request_gets_only_the_results(manager_client, add_feedback):
    made = add_feedback("conversion")
    add_feedback("return")

    response = manager_client.get(URL, {"type": "conversion"}, headers={"HX-Request": "true"})

    page = html(response)
    assert page.select_one("html") is None
    assert page.select_one("form.report-filters") is None
    assert page.find().get("id") == "history-results"
    assert rows(response) == ids(made)
    assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(manager_client):
    response = manager_client.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert html(response).select_one("form.report-filters") is not None


def test_the_export_link_carries_the_filters_but_not_the_page(manager_client):
    page = html(manager_client.get(URL, {"type": "return", "q": "Jo Blow", "page": "1"}))

    link = urlsplit(page.select_one("a.export-link")["href"])
    assert link.path == reverse("reports:export")
    assert parse_qs(link.query) == {"type": ["return"], "q": ["Jo Blow"]}


def in_bulk(lead, count: int, **fields) -> list[Feedback]:
    # Not live, so one lead may hold any number of them.
    start = timezone.now() - timedelta(hours=2)
    return Feedback.objects.bulk_create(
        Feedback(
            lead=lead, feedback_type="return", status=Status.REJECTED, created_at=start + timedelta(seconds=n), **fields
        )
        for n in range(count)
    )


def test_it_pages_fifty_at_a_time_keeping_the_filters(manager_client, make_lead):
    made = in_bulk(make_lead(), 53)[::-1]

    first = manager_client.get(URL, {"type": "return"})
    second = manager_client.get(URL, {"type": "return", "page": 2})

    assert rows(first) == ids(*made[:50])
    assert rows(second) == ids(*made[50:])
    next_link = html(first).select_one(".pagination a[rel=next]")
    assert parse_qs(urlsplit(next_link["href"]).query) == {"type": ["return"], "page": ["2"]}
    assert next_link["hx-get"] == next_link["href"]
    assert "Page 2 of 2" in html(second).select_one(".pagination").get_text()


def test_the_weekly_chart_follows_the_filters(manager_client, add_feedback):
    add_feedback("return", created_at=at("2026-03-02 10:00"))
    add_feedback("conversion", created_at=at("2026-03-10 10:00"))
    add_feedback("conversion", created_at=at("2026-03-11 10:00"))

    march = {"created_from": "2026-03-01", "created_to": "2026-03-31"}
    everything = html(manager_client.get(URL, march)).select("svg[data-chart=weekly] rect.bar")
    returns = html(manager_client.get(URL, march | {"type": "return"})).select("svg[data-chart=weekly] rect.bar")

    # two weeks of two series, then one week of two series (the conversions' bar at zero height)
    assert len(everything) == 4
    titles = [bar.title.get_text() for bar in everything]
    assert titles == ["Mar 2: 1 returns", "Mar 2: 0 conversions", "Mar 9: 0 returns", "Mar 9: 2 conversions"]
    assert [bar.title.get_text() for bar in returns] == ["Mar 2: 1 returns", "Mar 2: 0 conversions"]


@pytest.mark.parametrize("count", [2, 40])
def test_the_history_makes_a_fixed_number_of_queries(
    manager_client, make_lead, agent, django_assert_num_queries, count
):
    for n in range(count):
        in_bulk(make_lead(), 1, agent=agent if n % 2 else None)
    # session, user, permissions, worker heartbeat (banner), the reasons and agents for the form,
    # the lead search (once: the chart and the rows share the FilterSet's queryset), the weekly chart,
    # the page's count, the page's rows with lead and agent, the nav link's count
    with django_assert_num_queries(10 + PERMISSION_QUERIES):
        response = manager_client.get(URL, {"type": "return", "q": "Doe"})
    assert len(rows(response)) == count


def test_without_dates_the_weekly_chart_covers_the_last_twelve_weeks_and_the_rows_everything(
    manager_client, add_feedback
):
    # Charting every week there is read the whole table on every history page (462 ms at 1M).
    old = add_feedback(created_at=timezone.now() - timedelta(weeks=30))
    recent = add_feedback(created_at=timezone.now() - timedelta(days=1))

    response = manager_client.get(URL)

    assert set(rows(response)) == {old.pk, recent.pk}
    bars = html(response).select("svg[data-chart=weekly] rect.bar")
    assert sum(int(bar.title.get_text().split(": ")[1].split()[0]) for bar in bars) == 1
    assert "last 12 weeks" in html(response).select_one("#weekly-heading").get_text()


def test_the_count_stops_at_the_cap_and_says_more_than(manager_client, add_feedback, monkeypatch):
    from feedbackportal.reports.views import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "cap", 3)
    for _ in range(5):
        add_feedback()

    text = html(manager_client.get(URL)).select_one(".result-count").get_text(" ", strip=True)

    assert text == "More than 3 feedbacks match; filter to see fewer."
    assert len(rows(manager_client.get(URL))) == 3  # the pages hold the first 3; Older goes on from there


def test_past_the_capped_count_the_history_goes_on_from_its_last_row(manager_client, add_feedback, monkeypatch):
    from feedbackportal.reports import views

    monkeypatch.setattr(views.CappedPaginator, "cap", 3)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    now = timezone.now()
    # Newest first, with ties on the time (the id breaks them), and some conversions filtered out.
    times = [now - timedelta(minutes=n // 3) for n in range(11)]
    made = [add_feedback(created_at=at) for at in times]
    add_feedback(FeedbackType.CONVERSION, created_at=now)
    expected = sorted(made, key=lambda feedback: (feedback.created_at, feedback.pk), reverse=True)

    seen: list[int] = []
    url = f"{URL}?type=return"
    for _ in range(20):
        page = html(manager_client.get(url))
        seen += rows(manager_client.get(url))
        further = page.select_one("a[rel=next]")
        if further is None:
            break
        url = URL + further["href"]  # "?…": this page's address with other parameters
        assert "type=return" in url
    assert seen == [feedback.pk for feedback in expected]
    # Back to the newest from anywhere further back.
    newest = page.find("a", string="⇤ Newest")
    assert rows(manager_client.get(URL + newest["href"]))[0] == expected[0].pk


@pytest.mark.parametrize("leads", [2, 4, 8])  # a list of ids; few enough to find; common enough to walk to
def test_the_history_filtered_by_lead_is_newest_first_however_many_leads_match(
    manager_client, make_lead, add_feedback, monkeypatch, leads
):
    from feedbackportal.reports import selectors

    monkeypatch.setattr(selectors, "LEAD_MATCHES_INLINED", 3)
    monkeypatch.setattr(selectors, "LEAD_MATCHES_SPARSE", 6)
    now = timezone.now()
    found = [make_lead(last_name=f"Capper{n}") for n in range(leads)]
    made = [
        add_feedback(kind, lead=lead, created_at=now - timedelta(minutes=n % 3))
        for kind in (FeedbackType.RETURN, FeedbackType.CONVERSION)
        for n, lead in enumerate(found)
    ]
    add_feedback(lead=make_lead(last_name="Other"), created_at=now)
    expected = sorted(made, key=lambda feedback: (feedback.created_at, feedback.pk), reverse=True)
    assert rows(manager_client.get(URL, {"q": "capper"})) == [feedback.pk for feedback in expected]


def test_the_capped_count_asks_for_no_order(manager_client, add_feedback):
    # In the history's order PostgreSQL may walk every feedback newest first just to count them.
    add_feedback()
    with CaptureQueriesContext(connection) as queries:
        manager_client.get(URL, {"q": "Doe"})
    cap = f"LIMIT {CappedPaginator.cap + 1}"
    (count,) = [query["sql"] for query in queries.captured_queries if cap in query["sql"]]
    assert count.startswith("SELECT COUNT(*)")
    assert "ORDER BY" not in count


def test_a_lost_place_in_the_history_shows_the_newest_and_says_so(manager_client, add_feedback):
    newest = add_feedback()
    for anchor in ("999999", "not-an-id", "²", "9" * 5000, "99999999999999999999"):
        page = html(manager_client.get(URL, {"older_than": anchor}))
        assert "not there any more" in page.select_one("[role=status]").get_text()
        assert rows(manager_client.get(URL, {"older_than": anchor})) == [newest.pk]


def test_a_deep_page_skips_its_offset_over_the_ids_alone_then_reads_its_rows(manager_client, make_lead):
    # OFFSET over the full rows with their lead and agent joined read 10,000 of them for page 200 at 1M.
    made = in_bulk(make_lead(), 130)[::-1]

    with CaptureQueriesContext(connection) as queries:
        third = manager_client.get(URL, {"type": "return", "page": 3})

    assert rows(third) == ids(*made[100:])
    paged = [query["sql"] for query in queries if "OFFSET" in query["sql"]]
    assert len(paged) == 1
    outer, offset_part = paged[0].split("IN (SELECT", 1)
    assert "OFFSET" not in outer  # the rows are read by id, fifty of them
    assert 'INNER JOIN "leads_lead"' not in offset_part.split("LIMIT")[0]  # the skipped rows are never joined


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")
@pytest.mark.django_db(transaction=True)  # VACUUM, as autovacuum leaves a table: its visibility map set
def test_the_weekly_chart_counts_from_an_index_without_reading_each_feedback(manager_client, make_lead):
    # The chart counts 12 weeks of feedback: at a million, 116,000 rows, each read from the table
    # for its type and status (3,300 pages), most of the history page's time. The created_at
    # index holds them.
    lead = make_lead()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO feedback_feedback (lead_id, feedback_type, reason_text, note, idempotency_key, status,
                                           status_message, outcome, outcome_reason, attempt_count,
                                           attempts_before_resend, task_id, created_at, updated_at)
            SELECT %s, CASE WHEN n %% 3 = 0 THEN 'conversion' ELSE 'return' END, '', '', gen_random_uuid(),
                   'rejected', '', 'failure', '', 1, 0, '', now() - n * interval '5 minutes', now()
            FROM generate_series(1, 30000) AS n
            """,
            [lead.pk],
        )
        cursor.execute("VACUUM ANALYZE feedback_feedback")
    with CaptureQueriesContext(connection) as queries:
        manager_client.get(URL)
    (chart,) = [query["sql"] for query in queries.captured_queries if "LATERAL" in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # as at a million rows, where the table costs more
        try:
            cursor.execute(f"EXPLAIN ANALYZE {chart}")
            text = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "Index Only Scan using feedback_newest_counted" in text, text
    # Each of the default period's weeks (and "later") counted apart, through its range of the
    # index: where grouping every row by its week hashed them all (45-65 ms at a million, now 20-30).
    weeks = DEFAULT_WEEKS + 2  # the first week's Monday comes before the period's first day
    assert f"loops={weeks}" in text or f"loops={weeks - 1}" in text, text
    assert "HashAggregate" not in text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")
@pytest.mark.parametrize("through_lead", [{"q": "Quintero"}, {"received_from": "2026-01-01"}])
def test_a_chart_filtered_through_the_leads_groups_its_rows_instead_of_counting_each_week(
    manager_client, add_feedback, through_lead
):
    # Counted week by week, the leads (found by their text or received dates) were looked up again
    # for every week: twice the time of grouping the rows at a million.
    add_feedback()
    with CaptureQueriesContext(connection) as queries:
        assert manager_client.get(URL, through_lead).status_code == 200
    assert not [query for query in queries.captured_queries if "LATERAL" in query["sql"]]
    with CaptureQueriesContext(connection) as queries:
        assert manager_client.get(URL).status_code == 200
    assert [query for query in queries.captured_queries if "LATERAL" in query["sql"]]
