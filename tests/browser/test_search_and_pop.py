"""The search side of the agent's desk in a real browser: Back keeps the search; the dialer's screen-pop."""

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback
from tests.browser.conftest import log_in

PHONE = "(512) 555-1212"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_back_from_a_lead_shows_the_search_again(page: Page, browser_problems, make_lead, agent):
    leads = [make_lead(last_name=f"Capper{n}") for n in range(3)]
    page.goto("/")
    log_in(page, agent.username)
    search = page.get_by_role("searchbox", name="Find a lead")
    expect(search).to_be_focused()

    page.keyboard.type("capper")
    expect(page.get_by_role("option")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"/\?q=capper$"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/leads/{leads[1].pk}/$"))

    page.go_back()

    expect(page).to_have_url(re.compile(r"/\?q=capper$"))
    expect(page.get_by_role("option")).to_have_count(3)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_have_value("capper")
    # The one lead opened is the agent's recent work now.
    expect(page.locator(".recent-work li")).to_have_count(1)
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_back_from_the_only_match_shows_it_listed_not_reopened(page: Page, browser_problems, make_lead, agent):
    lead = make_lead(first_name="Marisol", last_name="Quintero")
    page.goto("/")
    log_in(page, agent.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_focused()
    page.keyboard.type("Quintero, Marisol")
    expect(page.get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))

    page.go_back()

    expect(page).to_have_url(re.compile(r"/\?q=Quintero%2C\+Marisol$"))
    expect(page.get_by_role("option")).to_have_count(1)
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_screen_pop_opens_the_lead_after_login_and_two_keys_return_it(page: Page, browser_problems, make_lead, agent):
    lead = make_lead(phone=PHONE, event_id="5af4b98a0c1d2e3f40516273")
    page.goto("/pop/?" + urlencode({"phone": "5125551212", "event_id": lead.event_id, "campaign": "SOLAR"}))
    log_in(page, agent.username)

    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lead.full_name)
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    row = page.locator(".history tbody tr").filter(has_text="Wrong number")
    expect(row).to_have_count(1)
    feedback = Feedback.objects.get()
    assert (feedback.lead, feedback.feedback_type, feedback.reason_text) == (lead, "return", "Wrong number")
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_screen_pop_opens_the_search_for_several_and_feedback_by_event_id_for_none(
    page: Page, browser_problems, make_lead, agent
):
    make_lead(phone=PHONE)
    make_lead(phone=PHONE)
    page.goto("/")
    log_in(page, agent.username)

    page.goto("/pop/?phone=512-555-1212")
    expect(page).to_have_url(re.compile(r"/\?q=512-555-1212$"))
    expect(page.get_by_role("searchbox", name="Find a lead")).to_have_value("512-555-1212")
    expect(page.get_by_role("option")).to_have_count(2)

    page.goto("/pop/?event_id=ABCDEF0123456789ABCDEF01&phone=Anonymous")
    expect(page).to_have_url(re.compile(r"/feedback/event/\?event_id=abcdef0123456789abcdef01$"))
    expect(page.get_by_label("LeadConduit event id")).to_have_value("abcdef0123456789abcdef01")
    expect(page.locator(".messages")).to_contain_text("phone “Anonymous” has no digits")
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_by_search_a_return_takes_the_number_enter_a_digit_and_enter(page: Page, browser_problems, make_lead, agent):
    lead = make_lead(phone=PHONE)
    make_lead(phone="(737) 444-9999")
    page.goto("/")
    log_in(page, agent.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_focused()

    page.keyboard.type("5125551212")  # 10 keys
    expect(page.get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")  # 11
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    page.keyboard.press("1")  # 12
    page.keyboard.press("Enter")  # 13

    expect(page.locator(".history tbody tr").filter(has_text="Wrong number")).to_have_count(1)
    assert Feedback.objects.get().lead == lead
    assert browser_problems == []
