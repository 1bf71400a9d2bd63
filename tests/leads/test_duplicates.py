"""The duplicate hint: other leads with the same phone digits or email, from any source, within 90 days."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from feedbackportal.leads.models import Lead


@pytest.fixture
def lead(make_lead) -> Lead:
    return make_lead(phone="(512) 555-1212", email="marisol@example.com", received_at=timezone.now())


def test_a_lead_with_the_same_phone_digits_from_another_source_is_a_duplicate(make_lead, lead):
    other = make_lead(phone="+1 512.555.1212", email="someone@example.com", source_name="Other Seller")
    assert list(Lead.objects.duplicates_of(lead)) == [other]


def test_a_lead_with_the_same_email_is_a_duplicate(make_lead, lead):
    other = make_lead(phone="(737) 444-9999", email="Marisol@Example.com ")
    assert list(Lead.objects.duplicates_of(lead)) == [other]


def test_duplicates_are_within_90_days_of_the_lead_newest_first(make_lead, lead):
    now = lead.received_at
    before = make_lead(phone=lead.phone, received_at=now - timedelta(days=89))
    after = make_lead(email=lead.email, received_at=now + timedelta(days=3))
    make_lead(phone=lead.phone, received_at=now - timedelta(days=91))
    make_lead(email=lead.email, received_at=now + timedelta(days=91))
    assert list(Lead.objects.duplicates_of(lead)) == [after, before]


def test_the_lead_itself_and_other_people_are_not_duplicates(make_lead, lead):
    make_lead(phone="(512) 555-1213", email="marisol@example.org")
    make_lead(phone="555-1212", email="")  # the same last digits, not the same number
    assert list(Lead.objects.duplicates_of(lead)) == []


@pytest.mark.parametrize(("phone", "email"), [("", ""), ("12", ""), ("n/a", "")])
def test_a_lead_without_a_usable_phone_or_email_has_no_duplicates(make_lead, phone, email):
    bare = make_lead(phone=phone, email=email)
    make_lead(phone=phone, email=email)
    assert list(Lead.objects.duplicates_of(bare)) == []


# ---- On the lead page


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def test_the_lead_page_lists_duplicates_with_source_and_date_linked(agent_client, make_lead, lead):
    other = make_lead(
        first_name="Mari",
        last_name="Q",
        phone="512-555-1212",
        source_name="SunPeak Solar",
        received_at=lead.received_at - timedelta(days=12),
    )
    page = html(agent_client.get(lead.get_absolute_url()))
    section = page.select_one("section.duplicates")
    assert section is not None
    items = section.select("li")
    assert len(items) == 1
    link = items[0].select_one("a")
    assert link["href"] == other.get_absolute_url()
    assert link.get_text(strip=True) == "Mari Q"
    text = items[0].get_text(" ", strip=True)
    assert "SunPeak Solar" in text
    assert other.received_at.strftime("%b %-d, %Y") in text
    assert "same phone" in text


def test_the_lead_page_has_no_duplicate_hint_without_duplicates(agent_client, lead):
    assert html(agent_client.get(lead.get_absolute_url())).select("section.duplicates") == []


def test_the_lead_page_lists_at_most_ten_duplicates_and_says_there_are_more(agent_client, make_lead, lead):
    for n in range(12):
        make_lead(email=lead.email, received_at=lead.received_at - timedelta(hours=n + 1))
    section = html(agent_client.get(lead.get_absolute_url())).select_one("section.duplicates")
    assert section is not None
    assert len(section.select("li")) == 10
    assert "there are more" in section.select_one("p.more-duplicates").get_text()


def test_duplicates_are_escaped(agent_client, make_lead, lead):
    make_lead(first_name="<script>alert(1)</script>", source_name="<b>x</b>", email=lead.email)
    section = html(agent_client.get(lead.get_absolute_url())).select_one("section.duplicates")
    assert section is not None
    assert section.find("script") is None
    assert section.find("b") is None
