"""The agent's whole path in a real browser: log in, find a lead, return it by keyboard, see it accepted."""

import re

import pytest
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.sandbox.models import SandboxCall


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_agent_returns_a_lead_by_keyboard_and_sees_it_accepted(
    page: Page, browser_problems, sandbox_url, lead_with_event, agent, delivery_worker
):
    lead = lead_with_event

    page.goto("/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill("pw")
    page.keyboard.press("Enter")

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

    delivery_worker()  # only now, so "Queued" above cannot race the delivery
    expect(row.locator(".badge")).to_have_text("Accepted")
    expect(row).to_contain_text("Accepted by LeadConduit.")
    assert page.evaluate("window.sameDocument") is True

    feedback = Feedback.objects.get()
    assert (feedback.lead, feedback.feedback_type, feedback.reason_text) == (lead, "return", "Wrong number")
    assert feedback.status == Status.ACCEPTED
    assert SandboxCall.objects.count() == 1
    assert browser_problems == []
