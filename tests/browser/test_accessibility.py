"""axe-core on every page an agent uses, in the states they see: no serious or critical violation."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Reason, Status
from feedbackportal.leads.models import Source, SourceReasonWording
from tests.helpers import make_feedback

BLOCKING = ("serious", "critical")


def blocking_violations(page: Page) -> list[str]:
    """Each serious or critical axe-core violation on the page as it is now, with the elements it names."""
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


def log_in(page: Page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.keyboard.press("Enter")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_agent_page_has_no_serious_or_critical_accessibility_violation(
    page: Page, browser_problems, make_lead, agent, return_reason, conversion_reason
):
    source = Source.objects.create(name="SunPeak Solar", slug="sunpeak", return_window_days=7)
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    lead = make_lead(first_name="Marisol", last_name="Quintero", source=source)
    make_feedback(lead, conversion_reason, status=Status.REJECTED, attempts=1, outcome_reason="Too late", agent=agent)
    make_feedback(lead, conversion_reason, status=Status.ERROR, attempts=1, status_message="HTTP 400", agent=agent)
    Reason.objects.create(feedback_type="return", label="Moved away", text="Consumer moved away")  # no key left
    seen: dict[str, list[str]] = {}

    page.goto("/")
    seen["login"] = blocking_violations(page)
    log_in(page, agent.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_focused()
    seen["search"] = blocking_violations(page)
    page.keyboard.type("Quintero")
    expect(page.get_by_role("option", name=re.compile("Marisol Quintero"))).to_be_visible()
    seen["search results"] = blocking_violations(page)

    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Marisol Quintero")
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    seen["lead page"] = blocking_violations(page)

    page.context.clear_cookies()
    page.keyboard.press("r")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#session-alert")).to_contain_text("nothing was sent")
    seen["lead page, signed out"] = blocking_violations(page)

    page.get_by_role("link", name="Sign in again").click()
    log_in(page, agent.username)
    expect(page.get_by_role("heading", level=1)).to_have_text("Marisol Quintero")
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    page.keyboard.press("r")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    new_row = page.locator(".history tbody tr").filter(has_text="Invalid phone")
    expect(new_row).to_be_focused()
    seen["lead page after a return"] = blocking_violations(page)

    page.goto("/feedback/event/")
    seen["feedback by event id"] = blocking_violations(page)
    page.get_by_label("LeadConduit event id").fill("not-an-event")
    page.get_by_role("button", name=re.compile("Send to LeadConduit")).click()
    expect(page.locator("[role=alert]").first).to_be_visible()
    seen["feedback by event id, refused"] = blocking_violations(page)

    assert {name: found for name, found in seen.items() if found} == {}
    refused_form = "status of 422"  # the refused event form's own answer, which Chromium logs
    assert [problem for problem in browser_problems if refused_form not in problem] == []
