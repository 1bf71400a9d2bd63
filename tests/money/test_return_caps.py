"""Return caps: a seller's maximum share of returns per calendar month, shown and warned on the lead page."""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.caps import CapUse, cap_use_by_source, cap_use_for, month_start
from feedbackportal.feedback.models import Status
from feedbackportal.leads.models import Source
from tests.helpers import PERMISSION_QUERIES, make_feedback


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="AutoCover Direct", slug="autocover", max_return_percent=Decimal(20))


def page(client, lead) -> BeautifulSoup:
    return BeautifulSoup(client.get(lead.get_absolute_url()).content, "html.parser")


def leads_with_returns(make_lead, reason, source, *, leads: int, returns: int, status=Status.ACCEPTED) -> list:
    made = [make_lead(source=source) for _ in range(leads)]
    for lead in made[:returns]:
        make_feedback(lead, reason, status=status)
    return made


# ---- Counting


def test_cap_use_counts_this_months_leads_and_live_returns(source, make_lead, return_reason, conversion_reason):
    made = leads_with_returns(make_lead, return_reason, source, leads=10, returns=1)
    make_feedback(made[1], return_reason, status=Status.UNCONFIRMED)  # may be with the seller: counts
    make_feedback(made[2], return_reason, status=Status.QUEUED)  # on its way: counts
    make_feedback(made[3], return_reason, status=Status.REJECTED)  # the seller refused it: does not
    make_feedback(made[4], return_reason, status=Status.CANCELLED)
    make_feedback(made[5], conversion_reason, status=Status.ACCEPTED)
    use = cap_use_for(source)
    assert (use.leads, use.returns) == (10, 3)
    assert use.used_percent == Decimal("30.0")
    assert use.over_cap


def test_last_months_leads_and_returns_do_not_count(source, make_lead, return_reason):
    last_month = month_start() - timedelta(hours=1)
    old = make_lead(source=source, received_at=last_month)
    make_feedback(old, return_reason, status=Status.ACCEPTED, created_at=last_month)
    make_lead(source=source)
    use = cap_use_for(source)
    assert (use.leads, use.returns) == (1, 0)


def test_the_month_starts_at_midnight_in_the_portals_time_zone(settings):
    settings.TIME_ZONE = "America/Chicago"
    timezone.deactivate()
    start = month_start(datetime(2026, 3, 1, 3, 0, tzinfo=timezone.UTC))  # still February in Chicago
    assert (start.year, start.month, start.day, start.hour) == (2026, 2, 1, 0)
    assert start.utcoffset() == timedelta(hours=-6)


def test_a_source_without_a_cap_has_no_cap_use(make_lead):
    uncapped = Source.objects.create(name="Open", slug="open")
    assert cap_use_for(uncapped) is None
    assert cap_use_for(None) is None


@pytest.mark.parametrize(
    ("leads", "returns", "one_more_passes"),
    [(10, 1, False), (10, 2, True), (5, 0, False), (4, 0, True), (0, 0, True)],
)
def test_one_more_return_passes_the_cap_exactly_when_it_would_go_over(leads, returns, one_more_passes):
    # 20 % of 10 leads is 2 returns: the second is still within, the third is over.
    assert CapUse(1, "S", Decimal(20), leads, returns).one_more_passes_cap is one_more_passes


def test_cap_use_by_source_lists_only_capped_sources_in_two_queries(
    source, make_lead, return_reason, django_assert_num_queries
):
    other = Source.objects.create(name="Bright Leads", slug="bright", max_return_percent=Decimal("12.5"))
    Source.objects.create(name="No cap", slug="nocap")
    leads_with_returns(make_lead, return_reason, source, leads=5, returns=2)
    leads_with_returns(make_lead, return_reason, other, leads=8, returns=1)
    with django_assert_num_queries(2):
        uses = cap_use_by_source()
    assert [(u.source_name, u.leads, u.returns, u.used_percent) for u in uses] == [
        ("AutoCover Direct", 5, 2, Decimal("40.0")),
        ("Bright Leads", 8, 1, Decimal("12.5")),
    ]


# ---- On the lead page


def test_the_lead_page_shows_how_much_of_the_cap_is_used(agent_client, source, make_lead, return_reason):
    made = leads_with_returns(make_lead, return_reason, source, leads=50, returns=7)
    line = page(agent_client, made[-1]).select_one("[data-testid=return-cap]")
    assert line.get_text(" ", strip=True).startswith("AutoCover Direct: 14 % of 20 % used this month")


def test_a_return_within_the_cap_shows_no_warning(agent_client, source, make_lead, return_reason):
    made = leads_with_returns(make_lead, return_reason, source, leads=10, returns=1)
    assert page(agent_client, made[-1]).select_one(".cap-warning") is None


def test_a_return_that_would_pass_the_cap_warns_above_the_send_button(agent_client, source, make_lead, return_reason):
    made = leads_with_returns(make_lead, return_reason, source, leads=10, returns=2)
    form = page(agent_client, made[-1]).select_one("form.feedback-form")
    warning = form.select_one(".cap-warning")
    assert "this return would pass that" in warning.get_text()
    button = form.select_one("button[type=submit]")
    assert not button.has_attr("disabled")  # the seller decides: still sendable
    following = [element for element in warning.find_all_next() if element.name == "button"]
    assert following[:1] == [button]


def test_a_return_over_the_cap_can_still_be_sent(agent_client, source, make_lead, return_reason):
    made = leads_with_returns(make_lead, return_reason, source, leads=10, returns=2)
    lead = made[-1]
    data = {"feedback_type": "return", "reason": return_reason.pk, "note": "", "idempotency_key": str(uuid.uuid4())}
    response = agent_client.post(reverse("feedback:create", args=[lead.pk]), data)
    assert response.status_code == 302
    assert lead.feedbacks.filter(feedback_type="return").exists()


def test_a_source_with_no_leads_this_month_says_so(agent_client, source, make_lead):
    lead = make_lead(source=source, received_at=month_start() - timedelta(days=2))
    line = page(agent_client, lead).select_one("[data-testid=return-cap]")
    assert "no leads received this month yet" in line.get_text()


def test_the_lead_page_costs_two_queries_more_for_a_capped_source(
    agent_client, source, make_lead, django_assert_num_queries
):
    lead = make_lead(source=source)
    # session, user, permissions (the managers' banner), lead with source, the agent's view of
    # it, duplicates, feedbacks, reasons, then this month's leads and returns of the source
    with django_assert_num_queries(9 + PERMISSION_QUERIES):
        agent_client.get(lead.get_absolute_url())
