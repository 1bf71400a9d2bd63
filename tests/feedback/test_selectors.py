"""The needs-attention badge on every manager page: a bounded count, whatever the queue's length."""

from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from feedbackportal.feedback import selectors
from feedbackportal.feedback.models import Status
from tests.helpers import make_feedback


def badge(client) -> str:
    page = BeautifulSoup(client.get(reverse("leads:search")).content, "html.parser")
    count = page.select_one("nav .attention-count")
    assert count is not None
    return count.get_text(strip=True)


def test_the_badge_count_stops_reading_past_its_cap(make_lead, return_reason, monkeypatch):
    for status in (Status.UNCONFIRMED, Status.FAILED, Status.FAILED, Status.RETRYING):
        make_feedback(make_lead(), return_reason, status=status)
    monkeypatch.setattr(selectors, "ATTENTION_BADGE_CAP", 2)

    with CaptureQueriesContext(connection) as queries:
        count = selectors.needs_attention_count()

    assert count == 3  # "more than 2"
    assert "LIMIT 3" in queries[0]["sql"]


def test_the_badge_says_more_than_the_cap_when_the_queue_is_longer(
    manager_client, make_lead, return_reason, monkeypatch
):
    for _ in range(3):
        make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED)
    monkeypatch.setattr(selectors, "ATTENTION_BADGE_CAP", 2)

    assert badge(manager_client) == "2+"


def test_the_badge_shows_the_exact_count_up_to_the_cap(manager_client, make_lead, return_reason, monkeypatch):
    for _ in range(2):
        make_feedback(make_lead(), return_reason, status=Status.FAILED)
    monkeypatch.setattr(selectors, "ATTENTION_BADGE_CAP", 2)

    assert badge(manager_client) == "2"
