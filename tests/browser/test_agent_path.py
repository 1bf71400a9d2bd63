"""The agent's whole path in a real browser: log in, find a lead, return it by keyboard, see it accepted."""

import re

import pytest
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.sandbox.models import SandboxCall
from tests.browser.conftest import log_in


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_agent_returns_a_lead_by_keyboard_and_sees_it_accepted(
    page: Page, browser_problems, sandbox_url, lead_with_event, agent, delivery_worker
):
    lead = lead_with_event
    # Added by an admin with the default order, above every other reason: it must not take digit 1.
    Reason.objects.create(feedback_type="return", label="Moved away", text="Consumer moved away", position=0)

    page.goto("/")
    expect(page.get_by_label("Username")).to_be_focused()
    log_in(page, agent.username)

    search = page.get_by_role("searchbox", name="Find a lead")
    expect(search).to_be_focused()
    page.keyboard.type("555-12")
    result = page.get_by_role("option", name=re.compile(re.escape(lead.full_name)))
    expect(result).to_be_visible()
    expect(result).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lead.full_name)
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))  # the keyboard layer is ready
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    # As if the agent dragged the note box's corner: an inline style that htmx must not copy on swap.
    page.get_by_label("Note").evaluate("note => { note.style.height = '6em'; }")
    page.keyboard.press("r")
    expect(page.get_by_role("radio", name="Return", exact=True)).to_be_checked()
    page.keyboard.press("1")
    wrong_number = page.get_by_role("radio", name=re.compile(r"Wrong number$"))
    expect(wrong_number).to_be_checked()
    expect(wrong_number).to_be_focused()
    page.keyboard.press("Enter")

    row = page.locator(".history tbody tr").filter(has_text="Wrong number")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Queued")
    expect(row).to_contain_text(agent.get_full_name())
    expect(row).to_be_focused()
    # The return half is now one line; the conversion half is offered, but only C chooses it.
    summary = page.get_by_test_id("summary-return")
    expect(summary).to_have_text(re.compile(r"Returned · Queued · Wrong number"))
    expect(page.get_by_role("radio", name="Return", exact=True)).to_have_count(0)
    conversion = page.get_by_role("radio", name="Conversion", exact=True)
    expect(conversion).not_to_be_checked()
    # A return's digit and Enter again, out of habit: nothing is chosen, nothing is sent.
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("input[name=reason]:checked")).to_have_count(0)
    assert Feedback.objects.count() == 1

    delivery_worker()  # only now, so "Queued" above cannot race the delivery
    expect(row.locator(".badge")).to_have_text("Accepted")
    expect(row).to_contain_text("Accepted by LeadConduit.")
    expect(summary).to_have_text(re.compile(r"Returned · Accepted · Wrong number"))
    expect(row).to_be_focused()  # the polled row came back in place, focus with it
    assert page.evaluate("window.sameDocument") is True

    feedback = Feedback.objects.get()
    assert (feedback.lead, feedback.feedback_type, feedback.reason_text) == (lead, "return", "Wrong number")
    assert feedback.status == Status.ACCEPTED
    assert SandboxCall.objects.count() == 1

    page.keyboard.press("c")  # a conversion is a deliberate choice
    expect(conversion).to_be_checked()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("summary-conversion")).to_have_text(re.compile(r"Converted · (Queued|Accepted)"))
    assert Feedback.objects.filter(feedback_type="conversion").count() == 1
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_lost_session_says_nothing_was_sent_and_signing_in_returns_to_the_lead(
    page: Page, browser_problems, make_lead, agent
):
    lead = make_lead()
    page.goto(lead.get_absolute_url())
    log_in(page, agent.username)
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))

    page.context.clear_cookies()  # the session (and the CSRF cookie) are gone, as after a timeout
    page.keyboard.press("r")
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    alert = page.locator("#session-alert")
    expect(alert).to_contain_text("You were signed out — nothing was sent.")
    expect(page.get_by_role("radio", name=re.compile(r"Wrong number$"))).to_be_checked()
    assert not Feedback.objects.exists()

    alert.get_by_role("link", name="Sign in again").click()
    log_in(page, agent.username)

    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(lead.full_name)
    assert not Feedback.objects.exists()
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_feedback_by_event_id_uses_digit_keys_and_the_reply_fills_the_lead_card_in(
    page: Page, browser_problems, sandbox_url, make_event, agent, delivery_worker
):
    event = make_event(first_name="Rosa", last_name="Delgado")
    page.goto("/feedback/event/")
    log_in(page, agent.username)
    event_id = page.get_by_label("LeadConduit event id")
    expect(event_id).to_be_focused()
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))

    page.keyboard.type(event.event_id)
    page.keyboard.press("Tab")
    page.keyboard.press("r")
    page.keyboard.press("2")
    expect(page.get_by_role("radio", name=re.compile(r"Disconnected number$"))).to_be_checked()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Lead not yet known to the portal")
    row = page.locator(".history tbody tr")
    expect(row.locator(".badge")).to_have_text("Queued")

    delivery_worker()
    expect(row.locator(".badge")).to_have_text("Accepted")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa Delgado")  # the card, swapped out of band
    expect(page.get_by_test_id("summary-return")).to_have_text(re.compile(r"Returned · Accepted · Disconnected"))
    assert Feedback.objects.get().reason_text == "Disconnected number"
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_keystrokes_to_a_sent_return_two_from_the_lead_page_thirteen_from_a_ten_digit_phone_search(
    page: Page, browser_problems, make_lead, agent
):
    first, second = make_lead(phone="(512) 555-3434"), make_lead(phone="(737) 555-8989")
    page.goto("/")
    log_in(page, agent.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_focused()
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    pressed: list[str] = []

    def press(*keys: str) -> None:
        for key in keys:
            page.keyboard.press(key)
            pressed.append(key)

    press(*"5125553434")
    expect(page.get_by_role("option")).to_have_count(1)
    press("Enter")
    expect(page).to_have_url(re.compile(rf"/leads/{first.pk}/$"))
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    press("1", "Enter")
    expect(page.locator(".history tbody tr .badge")).to_have_text("Queued")
    assert len(pressed) == 13

    page.goto(second.get_absolute_url())  # as a dialer's screen-pop opens it
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    pressed.clear()
    press("1", "Enter")
    expect(page.locator(".history tbody tr .badge")).to_have_text("Queued")
    assert len(pressed) == 2

    assert list(Feedback.objects.order_by("id").values_list("lead", "reason_text")) == [
        (first.pk, "Wrong number"),
        (second.pk, "Wrong number"),
    ]
    assert browser_problems == []
