"""Money per source and per week: spend, credit expected for accepted returns, net cost, cost per conversion."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.leads.models import Source
from feedbackportal.reports.money import MoneyRow, money_report
from tests.helpers import PERMISSION_QUERIES, make_feedback

PERIOD = (None, None)


@pytest.fixture
def autocover(db) -> Source:
    return Source.objects.create(name="AutoCover Direct", slug="autocover", max_return_percent=Decimal(20))


def report():
    return money_report(Feedback.objects.all(), period=PERIOD)


def test_spend_credit_and_net_cost_add_up_in_decimal(autocover, make_lead, return_reason, conversion_reason):
    returned = make_lead(source=autocover, price=Decimal("25.10"))
    converted = make_lead(source=autocover, price=Decimal("30.20"))
    make_lead(source=autocover, price=Decimal("0.10"))
    make_feedback(returned, return_reason, status=Status.ACCEPTED)
    make_feedback(converted, conversion_reason, status=Status.ACCEPTED)
    row = report().sources[0]
    assert (row.label, row.leads, row.priced_leads) == ("AutoCover Direct", 3, 3)
    assert row.spend == Decimal("55.40")  # a float sum would be 55.400000000000006
    assert row.credit_expected == Decimal("25.10")
    assert row.net_cost == Decimal("30.30")
    assert row.cost_per_conversion == Decimal("30.30")
    assert all(isinstance(value, Decimal) for value in (row.spend, row.credit_expected, row.net_cost))


def test_a_lead_without_a_price_counts_as_a_lead_but_costs_nothing(autocover, make_lead, return_reason):
    unpriced = make_lead(source=autocover)
    make_lead(source=autocover, price=Decimal("10"))
    make_feedback(unpriced, return_reason, status=Status.ACCEPTED)
    row = report().sources[0]
    assert (row.leads, row.priced_leads, row.unpriced_leads) == (2, 1, 1)
    assert (row.spend, row.credit_expected, row.net_cost) == (Decimal("10.00"), Decimal("0.00"), Decimal("10.00"))


def test_nothing_priced_is_zero_not_unknown(autocover, make_lead):
    make_lead(source=autocover)
    row = report().sources[0]
    assert (row.spend, row.credit_expected, row.net_cost) == (Decimal("0.00"),) * 3
    assert row.cost_per_conversion is None  # no conversion: nothing to divide by


def test_free_leads_returned_credit_zero(autocover, make_lead, return_reason):
    free = make_lead(source=autocover, price=Decimal(0))
    make_feedback(free, return_reason, status=Status.ACCEPTED)
    row = report().sources[0]
    assert (row.spend, row.credit_expected, row.net_cost) == (Decimal("0.00"),) * 3


@pytest.mark.parametrize(
    ("status", "credited"),
    [
        (Status.ACCEPTED, True),
        (Status.REJECTED, False),  # the seller refused the refund
        (Status.UNCONFIRMED, False),  # not known to be recorded: no credit to expect yet
        (Status.QUEUED, False),
        (Status.CANCELLED, False),
        (Status.FAILED, False),
    ],
)
def test_only_an_accepted_return_is_credit_expected(autocover, make_lead, return_reason, status, credited):
    lead = make_lead(source=autocover, price=Decimal("40"))
    make_feedback(lead, return_reason, status=status)
    assert report().sources[0].credit_expected == (Decimal("40.00") if credited else Decimal("0.00"))


def test_every_lead_returned_nets_to_zero(autocover, make_lead, return_reason):
    for price in ("12.34", "56.78"):
        make_feedback(make_lead(source=autocover, price=Decimal(price)), return_reason, status=Status.ACCEPTED)
    row = report().sources[0]
    assert row.net_cost == Decimal("0.00")


def test_cost_per_conversion_rounds_to_cents_half_up():
    row = MoneyRow("S", leads=3, priced_leads=3, spend=Decimal("10.00"), credit_expected=Decimal(0), conversions=3)
    assert row.cost_per_conversion == Decimal("3.33")
    row = MoneyRow("S", leads=8, priced_leads=8, spend=Decimal("0.05"), credit_expected=Decimal(0), conversions=2)
    assert row.cost_per_conversion == Decimal("0.03")  # 0.025 → 0.03, not banker's 0.02


def test_money_per_week_follows_the_week_the_lead_was_received(autocover, make_lead):
    now = timezone.now()
    make_lead(source=autocover, price=Decimal(5), received_at=now - timedelta(weeks=1))
    make_lead(source=autocover, price=Decimal(7), received_at=now)
    weeks = report().weeks
    assert [row.spend for row in weeks] == [Decimal("5.00"), Decimal("7.00")]
    assert weeks[0].label < weeks[1].label


def test_the_total_adds_the_sources(autocover, make_lead):
    other = Source.objects.create(name="Bright", slug="bright")
    make_lead(source=autocover, price=Decimal("1.10"))
    make_lead(source=other, price=Decimal("2.20"))
    make_lead(source_name="Old CRM", price=Decimal("3.30"))
    result = report()
    assert [row.label for row in result.sources] == ["Old CRM", "Bright", "AutoCover Direct"]
    assert result.total.spend == Decimal("6.60")


# ---- Pages


def test_the_rates_page_shows_money_and_cap_use(manager_client, autocover, make_lead, return_reason, settings):
    settings.CURRENCY = "USD"
    leads = [make_lead(source=autocover, price=Decimal("20")) for _ in range(5)]
    make_feedback(leads[0], return_reason, status=Status.ACCEPTED)
    page = BeautifulSoup(manager_client.get(reverse("reports:rates")).content, "html.parser")
    assert page.select_one("[data-figure=spend]").get_text(strip=True) == "100.00 USD"
    assert page.select_one("[data-figure=credit]").get_text(strip=True) == "20.00 USD"
    assert page.select_one("[data-figure=net-cost]").get_text(strip=True) == "80.00 USD"
    assert page.select_one("[data-figure=cost-per-conversion]").get_text(strip=True) == "—"
    caps = [
        [cell.get_text(" ", strip=True) for cell in row.select("td")]
        for row in page.select("[data-table=caps] tbody tr")
    ]
    assert caps == [["AutoCover Direct", "20 %", "5", "1", "20 % next return passes it"]]


def test_the_money_csv_has_leadconduits_column_names_and_plain_decimals(
    manager_client, autocover, make_lead, conversion_reason
):
    lead = make_lead(source=autocover, price=Decimal("19.99"))
    make_feedback(lead, conversion_reason, status=Status.ACCEPTED)
    response = manager_client.get(reverse("reports:money_export"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-3:] == ["conversion-received-success", "cost-per-conversion-received-success", "currency"]
    source_row = next(row for row in rows if row[0] == "source")
    assert source_row == ["source", "AutoCover Direct", "1", "1", "19.99", "0.00", "19.99", "1", "19.99", "USD"]
    assert rows[-1][0] == "total"


def test_agents_cannot_download_money(agent_client):
    assert agent_client.get(reverse("reports:money_export")).status_code == 403


@pytest.mark.parametrize("sources", [1, 6])
def test_the_rates_page_with_capped_sources_makes_a_fixed_number_of_queries(
    manager_client, make_lead, return_reason, django_assert_num_queries, sources
):
    for n in range(sources):
        source = Source.objects.create(name=f"S{n}", slug=f"s{n}", max_return_percent=Decimal(10))
        make_feedback(make_lead(source=source, price=Decimal(n)), return_reason, status=Status.ACCEPTED)
    # the rates page's queries (tests/reports/test_rates.py), plus the capped sources' returns this month
    with django_assert_num_queries(12 + PERMISSION_QUERIES):
        manager_client.get(reverse("reports:rates"))
