"""A manager in a real browser: filters the history, sees the chart and table change in place, downloads the CSV."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from tests.browser.conftest import log_in
from tests.helpers import member


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_filters_the_history_sees_the_chart_change_and_downloads_the_csv(
    page: Page, browser_problems, make_lead
):
    manager = member("boss", "Manager", first_name="Maria", last_name="Manager")
    now = timezone.now()
    for feedback_type, count in ((FeedbackType.RETURN, 3), (FeedbackType.CONVERSION, 2)):
        reason = Reason.objects.filter(feedback_type=feedback_type).first()
        assert reason is not None
        for _ in range(count):
            Feedback.objects.create(
                lead=make_lead(last_name="=SUM(A1)" if feedback_type == "conversion" else "Doe"),
                feedback_type=feedback_type,
                reason=reason,
                reason_text=reason.text,
                status=Status.ACCEPTED,
                outcome="success",
                created_at=now,
            )

    page.goto("/reports/history/")
    log_in(page, manager.username)

    expect(page.get_by_role("heading", level=1)).to_have_text("Feedback history")
    rows = page.locator("table.report-history tbody tr")
    expect(rows).to_have_count(5)
    bars = page.locator("svg[data-chart=weekly] rect.bar")
    expect(bars.first.locator("title")).to_have_text(re.compile(r": 3 returns$"))
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    page.get_by_label("Type").select_option("conversion")

    expect(page).to_have_url(re.compile(r"[?&]type=conversion"))
    expect(rows).to_have_count(2)
    expect(page.locator(".result-count")).to_have_text("2 feedbacks match.")
    expect(bars.first.locator("title")).to_have_text(re.compile(r": 0 returns$"))
    expect(bars.nth(1).locator("title")).to_have_text(re.compile(r": 2 conversions$"))
    assert page.evaluate("window.sameDocument") is True

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("feedback-history-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [row["type"] for row in exported] == ["Conversion", "Conversion"]
    assert {row["last_name"] for row in exported} == {"'=SUM(A1)"}

    page.reload()  # the filters live in the URL
    expect(page.get_by_label("Type")).to_have_value("conversion")
    expect(rows).to_have_count(2)
    assert browser_problems == []
