"""A manager's bulk feedback upload in a real browser: a preview, nothing sent until confirmed, every row's result."""

import re

import pytest
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback
from feedbackportal.imports.models import ImportJob
from feedbackportal.sandbox.models import SandboxCall
from tests.browser.conftest import log_in
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_uploads_returns_and_watches_them_import(
    page: Page, browser_problems, sandbox_url, make_lead, manager, delivery_worker
):
    leads = [make_lead() for _ in range(30)]
    unknown = new_event_id()
    rows = [["Event ID", "Reason"], *([lead.event_id, "Wrong number"] for lead in leads), [unknown, "Wrong number"]]

    page.goto("/imports/feedback/")
    log_in(page, manager.username)

    expect(page.get_by_role("heading", level=1)).to_have_text("Import bulk feedback")
    page.get_by_label("CSV file").set_input_files(
        {"name": "returns.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows)}
    )
    page.get_by_role("radio", name="Return").check()
    page.get_by_role("button", name="Upload and preview").click()

    job = ImportJob.objects.get()
    expect(page).to_have_url(re.compile(rf"/imports/{job.pk}/$"))
    progress = page.locator("#import-progress")
    badge = progress.locator(".import-state .badge")
    expect(badge).to_have_text("Waiting for the worker to read the file for a preview")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    delivery_worker()
    expect(badge).to_have_text("Waiting for your confirmation")
    preview = progress.locator("table.import-preview")
    expect(preview.locator("tr", has_text="Will be sent to LeadConduit").locator("td")).to_have_text("30")
    expect(preview.locator("tr", has_text="Unknown event ids").locator("td")).to_have_text("1")
    assert page.evaluate("window.sameDocument") is True  # the preview came in by itself
    assert not Feedback.objects.exists()
    assert not SandboxCall.objects.exists()

    page.get_by_role("button", name="Send 30 returns to LeadConduit").click()
    expect(page.locator(".message")).to_contain_text("Confirmed: the worker now sends 30 returns.")
    expect(badge).to_have_text("Done")
    bar = page.get_by_role("progressbar", name="Import progress")
    expect(bar).to_have_attribute("value", "31")
    expect(bar).to_have_attribute("max", "31")
    expect(progress.locator(".import-counts")).to_contain_text("31 of 31 rows · 30 created · 0 updated · 1 skipped")
    skipped = page.locator("table.import-rows tbody tr").filter(has_text=unknown)
    expect(skipped).to_contain_text("Unknown event id: the portal has no lead with it.")
    expect(page.locator("table.import-rows tbody tr").filter(has_text="Created")).to_have_count(30)
    expect(page.get_by_role("link", name=re.compile("Download the result"))).to_be_visible()

    page.evaluate("window.sameDocument = true")
    page.get_by_role("link", name=re.compile(r"^Skipped")).click()
    expect(page.locator("table.import-rows tbody tr")).to_have_count(1)
    assert page.evaluate("window.sameDocument") is None  # the filter is a plain link, a new page

    assert Feedback.objects.count() == 30
    assert browser_problems == []
