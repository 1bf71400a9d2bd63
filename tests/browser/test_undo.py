"""The undo window in a real browser: a dialer's screen-pop, digit, Enter, "Sending in 3 s", U — and nothing
reaches LeadConduit."""

import re
import time

import pytest
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.sandbox.models import SandboxCall
from tests.browser.conftest import log_in

WINDOW = 3


def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_popped_lead_returned_in_two_keys_can_be_undone_before_it_is_sent_and_without_undo_is_accepted(
    page: Page, browser_problems, settings, sandbox_url, lead_with_event, agent, delivery_worker
):
    settings.FEEDBACK_UNDO_SECONDS = WINDOW
    lead = lead_with_event
    page.goto("/")
    log_in(page, agent.username)
    expect(page.get_by_role("searchbox", name="Find a lead")).to_be_focused()
    page.goto(f"/pop/?event_id={lead.event_id}&phone=5125551212")  # what a dialer's screen-pop opens
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    delivery_worker()

    page.keyboard.press("1")  # Return is preselected: two keys
    page.keyboard.press("Enter")
    row = page.locator(".history tbody tr").first
    expect(row.locator(".status-message")).to_have_text(re.compile(rf"^Sending in [1-{WINDOW}] s$"))
    expect(row.get_by_role("button", name="Undo U")).to_be_visible()
    page.keyboard.press("u")

    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(row).to_contain_text("Undone by Alex Agent before it was sent; nothing reached LeadConduit.")
    undone = Feedback.objects.get()
    assert undone.status == Status.CANCELLED
    # The worker ran its task when the window ended, and found nothing to send.
    wait_until(lambda: DBTaskResult.objects.get(pk=undone.task_id).status == TaskResultStatus.SUCCESSFUL)
    assert SandboxCall.objects.count() == 0

    page.keyboard.press("r")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    sent = page.locator(".history tbody tr").first
    expect(sent.locator(".status-message")).to_have_text(re.compile(r"^Sending in \d s$"))
    expect(sent.locator(".badge")).to_have_text("Accepted", timeout=(WINDOW + 10) * 1000)
    expect(sent.get_by_role("button", name="Undo U")).to_have_count(0)
    assert SandboxCall.objects.filter(event_id=lead.event_id).count() == 1
    assert browser_problems == []
