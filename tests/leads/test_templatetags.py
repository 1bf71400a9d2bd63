from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from django.test import override_settings
from django.utils import timezone

from feedbackportal.leads.templatetags.leads import phone, search_results


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("+15125551212", "(512) 555-1212"),
        ("512.555.1212", "(512) 555-1212"),
        ("(512) 555-1212", "(512) 555-1212"),
        ("1-512-555-1212", "(512) 555-1212"),
        ("555-1212", "555-1212"),  # not a full number: shown as it came
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("", ""),
    ],
)
def test_phone_numbers_are_shown_one_way(raw, shown):
    assert phone(raw) == shown


@pytest.mark.django_db
@override_settings(TIME_ZONE="America/Chicago")
def test_a_search_result_says_what_it_lacks_and_when_the_lead_came_in_local_time(make_lead):
    lead = make_lead(
        first_name="",
        last_name="",
        email="",
        phone="",
        source_name="",
        received_at=datetime(2026, 3, 2, 3, 30, tzinfo=UTC),
    )
    with timezone.override("America/Chicago"):
        row = BeautifulSoup(search_results([lead], "anything"), "html.parser")
    link = row.select_one("a.result")
    assert link["href"] == f"/leads/{lead.pk}/"
    assert link["aria-selected"] == "true"
    assert row.select_one(".result-name").get_text() == "(name not yet known)"
    assert row.select(".result-meta")[0].get_text() == "no phone · no email"
    assert row.select_one(".result-source") is None
    # 03:30 UTC on the 2nd is still the 1st in Chicago.
    assert row.select_one("time")["datetime"] == "2026-03-01T21:30:00-06:00"
    assert row.select_one("time").get_text() == "Mar 1, 2026"
    assert row.select_one(".result-feedback").get_text() == ""


@pytest.mark.django_db
def test_a_search_result_keeps_lead_data_as_text(make_lead):
    lead = make_lead(
        first_name='<img src=x onerror="alert(1)">', source_name="<b>Seller</b>", email="o'neil@example.com"
    )
    html = search_results([make_lead(), lead], "<img")
    row = BeautifulSoup(html, "html.parser").select("li")[1]
    assert row.select_one("img") is None
    assert row.select_one("b") is None
    assert row.select_one(".result-name mark").get_text() == "<img"
    assert row.select_one(".result-source").get_text() == "<b>Seller</b>"
    assert "o&#x27;neil@example.com" in html
    assert row.select_one("a.result")["aria-selected"] == "false"
