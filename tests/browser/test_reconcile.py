"""A manager reconciles LeadConduit's export in a real browser: upload, map, watch the groups, resolve at once."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback, FeedbackAction, Status
from feedbackportal.imports.models import ImportJob
from tests.browser.conftest import log_in
from tests.helpers import make_feedback

SAMPLE = Path(__file__).parent.parent / "fixtures" / "leadconduit_feedback_export.csv"
SAMPLE_PORTAL = {"b3": Status.ACCEPTED, "b4": Status.REJECTED, "b6": Status.UNCONFIRMED, "b7": Status.ACCEPTED}


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_reconciles_the_export_and_resolves_the_unconfirmed_in_one_action(
    page: Page, browser_problems, make_lead, return_reason, manager, delivery_worker
):
    for suffix, status in SAMPLE_PORTAL.items():
        make_feedback(make_lead(event_id=f"5af4b98aa8065fa3a79bf4{suffix}"), return_reason, status=status)
    more = [make_lead() for _ in range(2)]  # two more that LeadConduit has while the portal never heard back
    for lead in more:
        make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    export = SAMPLE.read_bytes() + b"".join(
        f"{lead.event_id},return,success,Wrong number,2026-03-20T10:00:00Z,HomeShield,Feedback Portal\n".encode()
        for lead in more
    )

    page.goto("/reports/reconcile/")
    log_in(page, manager.username)

    expect(page.get_by_role("heading", level=1)).to_have_text("Reconcile with LeadConduit's export")
    page.get_by_label("CSV file").set_input_files(
        {"name": "march-export.csv", "mimeType": "text/csv", "buffer": export}
    )
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Which column holds what?")
    expect(page.locator("table.preview tbody tr")).to_have_count(5)
    expect(page.get_by_label("Outcome: success, failure or error (required)")).to_have_value("Outcome")
    page.get_by_label("Time").select_option("Time")
    page.get_by_role("button", name="Reconcile").click()

    job = ImportJob.objects.get()
    expect(page).to_have_url(re.compile(rf"/reports/reconcile/{job.pk}/$"))
    results = page.locator("#reconcile-results")
    expect(results.locator(".import-state .badge")).to_have_text("Waiting for the worker")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    delivery_worker()
    expect(results.locator(".import-state .badge")).to_have_text("Done")
    assert page.evaluate("window.sameDocument") is True  # the progress updated in place
    counts = results.locator("table.reconcile-counts")
    expect(counts.locator("tr[data-group=agree] [data-count]")).to_have_text("2")
    expect(counts.locator("tr[data-group=confirmable] [data-count]")).to_have_text("3")
    expect(counts.locator("tr[data-group=elsewhere] [data-count]")).to_have_text("1")
    expect(counts.locator("tr[data-group=twice] [data-count]")).to_have_text("1")
    expect(results.locator("table.findings tbody tr")).to_have_count(3)

    page.get_by_role("button", name="Mark all 3 delivered").click()

    expect(page.locator(".messages")).to_have_text(f"Marked 3 delivered, with reconciliation {job.pk} as evidence.")
    expect(page.locator("table.findings tbody tr td:last-child")).to_have_text(["Marked delivered"] * 3)
    expect(page.get_by_role("button", name=re.compile("^Mark all"))).to_have_count(0)
    assert not Feedback.objects.filter(status=Status.UNCONFIRMED).exists()
    assert set(FeedbackAction.objects.values_list("comment", flat=True)) == {
        f"mark delivered, evidence: reconciliation {job.pk}, row {row}" for row in (6, 9, 10)
    }

    page.get_by_role("link", name="LeadConduit has the same feedback twice").click()
    expect(page.locator("table.findings tbody tr")).to_have_count(1)
    expect(page.locator("table.findings tbody tr td.number")).to_have_text("7, 8")
    assert browser_problems == []
