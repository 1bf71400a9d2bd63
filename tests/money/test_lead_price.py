"""A lead's price: read from the delivery, from LeadConduit's reply, shown on the lead page; Decimal only."""

import json
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from feedbackportal.feedback.services import submit_feedback
from feedbackportal.leads.models import BadPrice, Lead, Source, parse_price
from tests.conftest import new_event_id

TOKEN = "price-token"
live_db = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="AutoCover Direct", slug="autocover", intake_token=TOKEN)


def deliver(client, source: Source, **fields):
    body = json.dumps({"event_id": new_event_id(), "first_name": "Joe"} | fields)
    return client.post(
        reverse("leads:intake", kwargs={"slug": source.slug}),
        body,
        content_type="application/json",
        HTTP_X_INTAKE_TOKEN=TOKEN,
    )


def facts(response) -> dict[str, str]:
    page = BeautifulSoup(response.content, "html.parser")
    values = {}
    for dt in page.select(".facts dt"):
        dd = dt.find_next_sibling("dd")
        assert dd is not None
        values[dt.get_text(strip=True)] = dd.get_text(strip=True)
    return values


# ---- Reading a price


@pytest.mark.parametrize(
    ("given", "price"),
    [
        ("12.50", Decimal("12.50")),
        (12.5, Decimal("12.50")),
        (0.1, Decimal("0.10")),  # a float's shortest text, never 0.1000000000000000055…
        (35, Decimal("35.00")),
        ("$1,200", Decimal("1200.00")),
        ("0", Decimal("0.00")),
        ("", None),
        ("  ", None),
        (None, None),
        ("2.005", Decimal("2.00")),  # cents, rounded half to even as Decimal does
    ],
)
def test_it_reads_a_price_as_decimal_cents(given, price):
    parsed = parse_price(given)
    assert parsed == price
    assert parsed is None or isinstance(parsed, Decimal)


@pytest.mark.parametrize("given", ["cheap", "-5", "NaN", "Infinity", True, "1e20", "12,50.x"])
def test_it_refuses_what_is_not_a_price(given):
    with pytest.raises(BadPrice):
        parse_price(given)


# ---- From the delivery


def test_a_delivery_stores_the_price_it_carries(client, source):
    response = deliver(client, source, price="18.75")
    assert response.status_code == 201
    assert "warnings" not in response.json()
    assert Lead.objects.get().price == Decimal("18.75")


def test_a_source_may_name_its_price_parameter_cost(client, source):
    source.field_mapping = {"price": "cost"}
    source.full_clean()
    source.save()
    deliver(client, source, cost=22, price="999")
    assert Lead.objects.get().price == Decimal("22.00")


def test_a_nested_price_parameter_is_read_like_other_fields(client, source):
    source.field_mapping = {"price": "billing.cost"}
    source.save()
    deliver(client, source, billing={"cost": "9.99"})
    assert Lead.objects.get().price == Decimal("9.99")


def test_a_free_lead_keeps_its_price_of_zero(client, source):
    deliver(client, source, price=0)
    assert Lead.objects.get().price == Decimal("0.00")


def test_a_delivery_without_a_price_leaves_it_unknown(client, source):
    deliver(client, source)
    assert Lead.objects.get().price is None


def test_an_unreadable_price_stores_the_lead_and_says_so_in_the_reply(client, source):
    response = deliver(client, source, price="call us")
    assert response.status_code == 201
    assert Lead.objects.get().price is None
    assert "'call us' is not a price in 'price'" in response.json()["warnings"][0]


def test_a_redelivery_without_a_price_keeps_the_one_we_have(client, source):
    event_id = new_event_id()
    deliver(client, source, event_id=event_id, price="15")
    deliver(client, source, event_id=event_id)
    assert Lead.objects.get().price == Decimal("15.00")


def test_a_redelivery_with_a_new_price_updates_it_even_to_zero(client, source):
    event_id = new_event_id()
    deliver(client, source, event_id=event_id, price="15")
    deliver(client, source, event_id=event_id, price="0")
    assert Lead.objects.get().price == Decimal("0.00")


def test_a_price_is_a_mappable_field_of_a_source(source):
    source.field_mapping = {"price": "cost", "phone": "mobile"}
    source.full_clean()
    assert source.price_parameter == "cost"
    assert "price" not in source.mapping  # the lead's text fields are mapped apart from money


# ---- From LeadConduit's reply


@live_db
def test_leadconduits_reply_fills_an_unknown_price(
    sandbox_url, make_event, make_lead, return_reason, agent, run_worker
):
    event = make_event(price=Decimal("27.40"))
    lead = make_lead(event_id=event.event_id)
    submit_feedback(lead=lead, feedback_type="return", reason=return_reason, agent=agent)
    run_worker()
    assert Lead.objects.get(pk=lead.pk).price == Decimal("27.40")


@live_db
def test_leadconduits_reply_does_not_overwrite_the_price_we_were_given(
    sandbox_url, make_event, make_lead, return_reason, agent, run_worker
):
    event = make_event(price=Decimal("27.40"))
    lead = make_lead(event_id=event.event_id, price=Decimal("0.00"))
    submit_feedback(lead=lead, feedback_type="return", reason=return_reason, agent=agent)
    run_worker()
    assert Lead.objects.get(pk=lead.pk).price == Decimal("0.00")


# ---- On the lead page


def test_the_lead_page_shows_the_price_in_the_portals_currency(agent_client, make_lead, settings):
    settings.CURRENCY = "CAD"
    lead = make_lead(price=Decimal("1234.5"))
    assert facts(agent_client.get(lead.get_absolute_url()))["Price"] == "1,234.50 CAD"


def test_the_lead_page_shows_a_zero_price_as_zero_and_no_price_as_a_dash(agent_client, make_lead):
    free, unknown = make_lead(price=Decimal(0)), make_lead()
    assert facts(agent_client.get(free.get_absolute_url()))["Price"] == "0.00 USD"
    assert facts(agent_client.get(unknown.get_absolute_url()))["Price"] == "—"
