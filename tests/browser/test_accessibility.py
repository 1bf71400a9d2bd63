"""axe-core on every page an agent uses, in the states they see: no serious or critical violation."""

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import Group, User
from playwright.sync_api import Browser, Page, ViewportSize, expect

from feedbackportal.feedback.models import Reason, Status
from feedbackportal.leads.models import Source, SourceReasonWording
from tests.browser.conftest import log_in
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


PHONE: ViewportSize = {"width": 390, "height": 844}  # an iPhone 12-15 held upright


@pytest.fixture
def phone(chromium: Browser, live_server, browser_problems: list[str]) -> Iterator[Page]:
    """The portal 390 px wide. Not Chromium's mobile emulation: it zooms out to fit a page that is too wide,
    which would hide the very overflow these tests look for."""
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda error: browser_problems.append(f"uncaught: {error}"))
    yield page
    context.close()


@pytest.fixture
def busy_desk(make_lead, agent, return_reason, conversion_reason) -> dict[str, int]:
    """Every kind of row the agents' and managers' pages show, with long words and long messages in them."""
    source = Source.objects.create(name="SunPeak Solar Leads", slug="sunpeak", return_window_days=7)
    lead = make_lead(
        first_name="Marisol",
        last_name="Quintero-Villanueva",
        email="marisol.quintero.villanueva@example-insurance-company.com",
        phone="5125551212",
        source=source,
    )
    make_lead(first_name="Marisol", last_name="Quintero", phone="5125551212", source=source)  # a duplicate
    make_feedback(
        lead,
        conversion_reason,
        status=Status.REJECTED,
        attempts=1,
        outcome_reason="Feedback is forbidden for this lead after the return window closed",
        agent=agent,
    )
    unanswered = make_feedback(
        lead, return_reason, status=Status.UNCONFIRMED, attempts=2, status_message="HTTP 502", agent=agent
    )
    return {"lead": lead.pk, "unanswered": unanswered.pk}


def log_in_as(page: Page, user: User) -> None:
    page.goto("/accounts/login/")
    log_in(page, user.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_visible()


def overflow(page: Page) -> str | None:
    """What sticks out past the viewport's right edge, if the document is wider than the viewport."""
    return page.evaluate(
        """() => {
          const width = window.innerWidth;
          if (document.documentElement.scrollWidth <= width) return null;
          const wide = [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 1)
            .slice(0, 5)
            .map(el => el.tagName.toLowerCase() + '.' + el.className);
          return `${document.documentElement.scrollWidth}px wide: ` + wide.join(', ');
        }"""
    )


def agent_pages(busy_desk: dict[str, int]) -> list[str]:
    return ["/", "/?q=Quintero", f"/leads/{busy_desk['lead']}/", "/feedback/event/"]


def manager_pages(busy_desk: dict[str, int]) -> list[str]:
    return [
        "/feedback/queue/",
        f"/feedback/{busy_desk['unanswered']}/",
        "/reports/",
        "/reports/history/",
        "/reports/month/",
        "/reports/audit/",
        "/reports/reconcile/",
        "/imports/",
        "/imports/feedback/",
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_page_is_wider_than_a_phone_for_any_role(phone: Page, busy_desk):
    admin = User.objects.create_user("admin1", password="pw", first_name="Ada", last_name="Admin")
    admin.groups.add(Group.objects.get(name="Admin"))
    admin.is_staff = True  # as the role's signal does for a real admin
    admin.save()
    pages_by_role = {
        "agent1": agent_pages(busy_desk),
        "manager1": agent_pages(busy_desk) + manager_pages(busy_desk),
        "admin1": ["/", f"/leads/{busy_desk['lead']}/", "/reports/"],
    }
    User.objects.create_user("manager1", password="pw").groups.add(Group.objects.get(name="Manager"))
    too_wide: dict[str, str] = {}

    phone.goto("/accounts/login/")
    if found := overflow(phone):
        too_wide["login"] = found
    for username, urls in pages_by_role.items():
        phone.context.clear_cookies()
        log_in_as(phone, User.objects.get(username=username))
        for url in urls:
            phone.goto(url)
            if found := overflow(phone):
                too_wide[f"{username} {url}"] = found

    assert too_wide == {}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_agent_pages_on_a_phone_have_no_serious_or_critical_accessibility_violation(
    phone: Page, browser_problems, busy_desk, agent
):
    seen: dict[str, list[str]] = {}
    phone.goto("/accounts/login/")
    seen["login"] = blocking_violations(phone)
    log_in_as(phone, agent)
    seen["search"] = blocking_violations(phone)
    for url in agent_pages(busy_desk)[1:]:
        phone.goto(url)
        seen[url] = blocking_violations(phone)

    phone.goto(f"/leads/{busy_desk['lead']}/")
    statuses = phone.locator(".history tbody tr .badge")
    expect(statuses).to_have_count(2)
    for status in statuses.all():  # each feedback's status in view, not off to the right of a scrolled table
        box = status.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"]
    phone.keyboard.press("/")  # the shortcuts work whatever the width
    expect(phone.get_by_role("searchbox", name="Find a lead")).to_be_focused()

    assert {name: found for name, found in seen.items() if found} == {}
    assert browser_problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_main_manager_pages_on_a_phone_have_no_serious_or_critical_accessibility_violation(
    phone: Page, browser_problems, busy_desk, manager
):
    seen: dict[str, list[str]] = {}
    log_in_as(phone, manager)
    for url in manager_pages(busy_desk):
        phone.goto(url)
        seen[url] = blocking_violations(phone)

    assert {name: found for name, found in seen.items() if found} == {}
    assert browser_problems == []
