"""Bulk feedback is previewed first and sends nothing until a manager confirms it."""

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.imports import runner, services
from feedbackportal.imports.feedback_preview import DUPLICATE_MESSAGE, FeedbackPreview
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.sandbox.models import SandboxCall
from tests.conftest import new_event_id
from tests.helpers import PERMISSION_QUERIES
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db
IMPORT_FEEDBACK = reverse("imports:upload_feedback")


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def previewed(tmp_path, rows, feedback_type="return", user=None) -> ImportJob:
    path = tmp_path / "feedback.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=upload(rows, "feedback.csv"), name=path.name, feedback_type=feedback_type
    )
    return runner.run_import(job, lambda: path.open("rb"))


def confirm(client, job: ImportJob):
    return client.post(reverse("imports:confirm", kwargs={"pk": job.pk}))


@pytest.fixture
def every_kind_of_row(make_lead, return_reason):
    """A return file with one or more rows of each kind the preview counts."""
    good, other, third, already, odd, odd2, blank, retired = (make_lead() for _ in range(8))
    Feedback.objects.create(lead=already, feedback_type="return", reason=return_reason)
    Reason.objects.create(feedback_type="return", label="Retired reason", text="Retired reason", active=False)
    return [
        ["Event ID", "Reason"],
        [good.event_id, "Wrong number"],
        [other.event_id.upper(), "existing customer"],
        [third.event_id, " wrong  NUMBER "],
        [new_event_id(), "Wrong number"],
        ["5af4b98aa8065fa3a79bf4b", "Wrong number"],
        ["", "Wrong number"],
        [good.event_id, "Wrong number"],
        [already.event_id, "Wrong number"],
        [odd.event_id, "Aliens took the phone"],
        [odd2.event_id, "Aliens took the phone"],
        [blank.event_id, ""],
        [retired.event_id, "Retired reason"],
    ]


def test_the_preview_counts_each_kind_of_row_and_sends_nothing(tmp_path, every_kind_of_row):
    job = previewed(tmp_path, every_kind_of_row)
    assert (job.status, job.total_rows, job.processed) == (ImportStatus.CONFIRM, 12, 0)
    preview = FeedbackPreview.of(job)
    assert (preview.rows, preview.matched, preview.send) == (12, 9, 3)
    assert preview.skipped == {
        "no_event_id": 1,
        "not_event_id": 1,
        "unknown_event_id": 1,
        "duplicate": 1,
        "already_given": 1,
        "unknown_reason": 2,
        "no_reason": 1,
        "reason_retired": 1,
    }
    assert preview.reasons == {"Wrong number": 2, "Already a customer": 1}  # by catalog label
    assert preview.unknown_reasons == {"Aliens took the phone": 2}
    assert preview.examples["duplicate"] == [[8, every_kind_of_row[7][0], DUPLICATE_MESSAGE]]
    # Nothing recorded, nothing queued, nothing sent.
    assert Feedback.objects.count() == 1
    assert not DBTaskResult.objects.exists()
    assert not SandboxCall.objects.exists()
    assert not job.rows.exists()


def test_the_preview_predicts_what_the_import_then_does(tmp_path, every_kind_of_row, manager):
    job = previewed(tmp_path, every_kind_of_row)
    assert services.import_job_confirm(job=job, user=manager, run_in_worker=False)
    job = runner.run_import(job, lambda: (tmp_path / "feedback.csv").open("rb"))
    assert (job.status, job.created_count, job.skipped_count) == (ImportStatus.DONE, 3, 9)
    assert job.created_count == FeedbackPreview.of(job).send


def test_a_conversion_file_of_event_ids_only_needs_no_reason(tmp_path, make_lead):
    leads = [make_lead(), make_lead()]
    job = previewed(tmp_path, [[lead.event_id] for lead in leads], feedback_type="conversion")
    preview = FeedbackPreview.of(job)
    assert (preview.rows, preview.send, preview.skipped, preview.reasons) == (2, 2, {}, {"(no reason)": 2})


def test_a_file_that_cannot_be_read_fails_at_the_preview(tmp_path):
    job = previewed(tmp_path, [["name", "reason"], ["Joe", "Wrong number"]])
    assert job.status == ImportStatus.FAILED
    assert "Event ID" in job.error


def test_the_job_page_shows_the_preview_with_the_send_button(tmp_path, manager_client, every_kind_of_row):
    job = previewed(tmp_path, every_kind_of_row)
    page = html(manager_client.get(job.get_absolute_url()))
    counts = {
        row.select_one("th").get_text(" ", strip=True): row.select_one("td").get_text(strip=True)
        for row in page.select("table.import-preview tbody tr")
    }
    assert counts["Rows in the file"] == "12"
    assert counts["Will be sent to LeadConduit (one call each)"] == "3"
    assert counts["Duplicates in the file"] == "1"
    assert counts["Lead already has this feedback"] == "1"
    assert counts["Unknown event ids (no such lead in the portal)"] == "1"
    assert counts["Unknown reasons"] == "2"
    reasons = [td.get_text(" ", strip=True) for td in page.select("table.preview-reasons td")]
    assert reasons == ["Wrong number", "2", "Already a customer", "1"]
    send = page.select_one(f"form[action='{reverse('imports:confirm', kwargs={'pk': job.pk})}'] button")
    assert send.get_text(strip=True) == "Send 3 returns to LeadConduit"
    assert page.select_one(f"form[action='{reverse('imports:cancel', kwargs={'pk': job.pk})}'] button")


def test_the_preview_page_takes_a_fixed_number_of_queries(
    tmp_path, manager_client, every_kind_of_row, django_assert_num_queries
):
    job = previewed(tmp_path, every_kind_of_row)
    # session, user, permissions, the job with its people, the rows' count, the base layout's
    # worker banner and attention count: the preview itself is read from the job's row.
    with django_assert_num_queries(6 + PERMISSION_QUERIES):
        assert manager_client.get(job.get_absolute_url()).status_code == 200


def test_a_preview_with_nothing_to_send_offers_no_send_button(tmp_path, manager_client):
    job = previewed(tmp_path, [[new_event_id(), "Wrong number"]])
    page = html(manager_client.get(job.get_absolute_url()))
    assert not page.select(f"form[action='{reverse('imports:confirm', kwargs={'pk': job.pk})}']")
    assert "Nothing in this file would be sent" in page.get_text()


def test_agents_cannot_confirm(tmp_path, agent_client, make_lead):
    job = previewed(tmp_path, [[make_lead().event_id, "Wrong number"]])
    assert confirm(agent_client, job).status_code == 403
    job.refresh_from_db()
    assert job.status == ImportStatus.CONFIRM


def test_confirming_needs_a_post(tmp_path, manager_client, make_lead):
    job = previewed(tmp_path, [[make_lead().event_id, "Wrong number"]])
    assert manager_client.get(reverse("imports:confirm", kwargs={"pk": job.pk})).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_nothing_reaches_leadconduit_before_the_manager_confirms_then_each_row_once(
    manager_client, manager, lead_with_event, make_event, make_lead, run_worker, sandbox_url
):
    second = make_event()
    second_lead = make_lead(event_id=second.event_id)
    rows = [["Event ID", "Reason"], [lead_with_event.event_id, "Wrong number"], [second_lead.event_id, "Wrong number"]]
    response = manager_client.post(IMPORT_FEEDBACK, {"file": upload(rows, "returns.csv"), "feedback_type": "return"})
    job = ImportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()

    run_worker()  # the preview only
    job.refresh_from_db()
    assert job.status == ImportStatus.CONFIRM
    assert FeedbackPreview.of(job).send == 2
    assert not Feedback.objects.exists()
    assert not SandboxCall.objects.exists()

    response = confirm(manager_client, job)
    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert (job.status, job.confirmed_by) == (ImportStatus.QUEUED, manager)
    assert job.confirmed_at is not None
    assert not SandboxCall.objects.exists()

    run_worker()  # the import, then the deliveries it queued
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.DONE, 2)
    assert list(Feedback.objects.values_list("status", flat=True)) == [Status.ACCEPTED, Status.ACCEPTED]
    assert sorted(SandboxCall.objects.values_list("event_id", flat=True)) == sorted(
        [lead_with_event.event_id, second_lead.event_id]
    )


@pytest.mark.django_db(transaction=True)
def test_a_double_confirm_sends_one_set_of_feedback(manager_client, lead_with_event, run_worker, sandbox_url):
    rows = [[lead_with_event.event_id, "Wrong number"]]
    manager_client.post(IMPORT_FEEDBACK, {"file": upload(rows), "feedback_type": "return"})
    run_worker()
    job = ImportJob.objects.get()
    first, second = confirm(manager_client, job), confirm(manager_client, job)
    assert first.status_code == second.status_code == 302
    messages = [str(m) for m in second.wsgi_request._messages][-1:]
    assert messages == ["This import was already confirmed; it is sent once."]
    job.refresh_from_db()
    assert DBTaskResult.objects.filter(task_path__endswith="run_import").count() == 2  # preview, import
    run_worker()
    assert Feedback.objects.count() == 1
    assert SandboxCall.objects.count() == 1


def test_confirming_twice_in_the_service_confirms_once(tmp_path, manager, make_lead):
    job = previewed(tmp_path, [[make_lead().event_id, "Wrong number"]])
    assert services.import_job_confirm(job=job, user=manager) is True
    assert services.import_job_confirm(job=job, user=manager) is False
    assert DBTaskResult.objects.count() == 1


def test_a_job_from_the_shell_is_never_handed_to_the_worker_which_has_no_file_for_it(tmp_path, manager, make_lead):
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes([[make_lead().event_id, "Wrong number"]]))
    job = services.import_job_create(kind=ImportKind.FEEDBACK, uploaded=None, name="f.csv", feedback_type="return")
    job = runner.run_import(job, lambda: path.open("rb"))
    assert services.import_job_confirm(job=job, user=manager) is False
    assert job.status == ImportStatus.CONFIRM
    assert not DBTaskResult.objects.exists()


def test_a_lead_import_or_an_unpreviewed_job_cannot_be_confirmed(tmp_path, manager, make_lead):
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=None, name="x.csv", feedback_type="return", user=manager
    )
    assert services.import_job_confirm(job=job, user=manager) is False
    job.refresh_from_db()
    assert (job.status, job.confirmed_at) == (ImportStatus.QUEUED, None)
