"""A manager can cancel an import that waits, or one that runs: it stops at its next batch, keeping what it did."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.tasks import TaskResultStatus
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import Feedback
from feedbackportal.feedback.sweeper import sweep
from feedbackportal.imports import feedback_batches, feedback_preview, lead_batches, runner, services
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.tasks import run_import
from feedbackportal.leads.models import Lead
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db
LONG_AGO = timedelta(hours=2)


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def cancel(client, job: ImportJob):
    return client.post(reverse("imports:cancel", kwargs={"pk": job.pk}))


def lead_rows(count: int) -> list[list[str]]:
    return [["Event ID", "First"]] + [[new_event_id(), f"Name{n}"] for n in range(count)]


def lead_job(rows: list[list[str]], **fields) -> ImportJob:
    return services.import_job_create(kind=ImportKind.LEADS, uploaded=upload(rows), name="leads.csv", **fields)


def cancelled_after_first_batch(monkeypatch, module, job: ImportJob, user) -> None:
    """Make `module`'s batch loop see the job cancelled (by another request) once its first batch is done."""
    original = module.batches

    def batches(rows, **kwargs):
        for number, batch in enumerate(original(rows, **kwargs)):
            if number == 1:
                assert services.import_job_cancel(job=job, user=user)
            yield batch

    monkeypatch.setattr(module, "batches", batches)


def test_a_job_waiting_for_its_column_mapping_can_be_cancelled(manager_client, manager):
    manager_client.post(reverse("imports:upload_leads"), {"file": upload(lead_rows(2))})
    job = ImportJob.objects.get()
    mapping = reverse("imports:mapping", kwargs={"pk": job.pk})
    cancel_form = html(manager_client.get(mapping)).select_one(
        f"form[action='{reverse('imports:cancel', kwargs={'pk': job.pk})}']"
    )
    assert cancel_form.select_one("button").get_text(strip=True) == "Cancel this import"

    response = cancel(manager_client, job)
    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert (job.status, job.cancelled_by) == (ImportStatus.CANCELLED, manager)
    assert job.finished_at is not None
    assert manager_client.get(mapping)["Location"] == job.get_absolute_url()
    page = html(manager_client.get(job.get_absolute_url()))
    assert page.select_one(".import-badge-cancelled").get_text(strip=True) == "Cancelled"
    assert "Cancelled by Maria Manager" in page.select_one("#import-progress").get_text(" ", strip=True)
    # A late mapping form cannot start it.
    services.import_job_start(job=job, column_mapping={"event_id": "Event ID"})
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert not DBTaskResult.objects.exists()


def test_a_feedback_import_awaiting_confirmation_can_be_cancelled_and_then_not_confirmed(
    tmp_path, manager_client, manager, make_lead
):
    rows = [[make_lead().event_id, "Wrong number"]]
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=upload(rows), name="f.csv", feedback_type="return"
    )
    job = runner.run_import(job, lambda: path.open("rb"))
    assert job.status == ImportStatus.CONFIRM
    cancel(manager_client, job)
    assert services.import_job_confirm(job=job, user=manager) is False
    response = manager_client.post(reverse("imports:confirm", kwargs={"pk": job.pk}))
    assert [str(m) for m in response.wsgi_request._messages][-1:] == ["This import was cancelled; nothing was sent."]
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert not Feedback.objects.exists()


def test_a_queued_import_cancelled_before_the_worker_takes_it_imports_nothing(manager):
    job = services.import_job_start(job=lead_job(lead_rows(3)), column_mapping={"event_id": "Event ID"})
    assert services.import_job_cancel(job=job, user=manager)
    assert run_import.call(job.pk) == ImportStatus.CANCELLED
    assert not Lead.objects.exists()


def test_a_running_lead_import_stops_at_its_next_batch_keeping_the_rows_it_did(
    tmp_path, monkeypatch, manager, manager_client
):
    monkeypatch.setattr(lead_batches, "BATCH_SIZE", 2)
    rows = lead_rows(5)
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes(rows))
    job = lead_job(rows, column_mapping={"event_id": "Event ID", "first_name": "First"})
    cancelled_after_first_batch(monkeypatch, lead_batches, job, manager)
    job = runner.run_import(job, lambda: path.open("rb"))
    assert (job.status, job.processed, job.created_count, job.total_rows) == (ImportStatus.CANCELLED, 2, 2, 5)
    assert set(Lead.objects.values_list("event_id", flat=True)) == {rows[1][0], rows[2][0]}
    assert list(job.rows.values_list("row_number", "result")) == [(2, "created"), (3, "created")]
    progress = html(manager_client.get(job.get_absolute_url())).select_one("#import-progress")
    assert "after 2 of 5 rows; the rows done before it stay done" in progress.get_text(" ", strip=True)
    assert [tr.select("td")[0].get_text() for tr in progress.select("tbody tr")] == ["2", "3"]


def test_a_running_feedback_import_stops_at_its_next_batch_keeping_the_feedback_it_queued(
    tmp_path, monkeypatch, manager, make_lead
):
    monkeypatch.setattr(feedback_batches, "FEEDBACK_BATCH_SIZE", 2)
    leads = [make_lead() for _ in range(5)]
    rows = [[lead.event_id, "Wrong number"] for lead in leads]
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=upload(rows), name="f.csv", feedback_type="return"
    )
    job = runner.run_import(job, lambda: path.open("rb"))
    assert services.import_job_confirm(job=job, user=manager, run_in_worker=False)
    cancelled_after_first_batch(monkeypatch, feedback_batches, job, manager)
    job = runner.run_import(job, lambda: path.open("rb"))
    assert (job.status, job.processed, job.created_count) == (ImportStatus.CANCELLED, 2, 2)
    assert sorted(Feedback.objects.values_list("lead", flat=True)) == sorted([leads[0].pk, leads[1].pk])
    # Every feedback of the batch that was rolled back is gone with its delivery task.
    assert DBTaskResult.objects.count() == 2


def test_a_preview_being_read_stops_when_cancelled(tmp_path, monkeypatch, manager, make_lead):
    monkeypatch.setattr(feedback_preview, "PREVIEW_BATCH_SIZE", 2)
    rows = [[make_lead().event_id, "Wrong number"] for _ in range(5)]
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=upload(rows), name="f.csv", feedback_type="return"
    )
    cancelled_after_first_batch(monkeypatch, feedback_preview, job, manager)
    job = runner.run_import(job, lambda: path.open("rb"))
    assert job.status == ImportStatus.CANCELLED
    assert job.preview == {}


def test_the_sweeper_never_resumes_a_cancelled_import(manager):
    job = services.import_job_start(job=lead_job(lead_rows(3)), column_mapping={"event_id": "Event ID"})
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now() - LONG_AGO)
    DBTaskResult.objects.filter(pk=job.task_id).update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - LONG_AGO
    )
    assert services.import_job_cancel(job=job, user=manager)  # stuck: its worker is gone
    assert sweep().others["imports_resumed"] == 0
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED


def test_a_finished_import_cannot_be_cancelled(manager_client, manager):
    job = ImportJob.objects.create(kind=ImportKind.LEADS, status=ImportStatus.DONE)
    assert services.import_job_cancel(job=job, user=manager) is False
    response = cancel(manager_client, job)
    assert [str(m) for m in response.wsgi_request._messages][-1:] == [
        "This import has finished; there is nothing to cancel."
    ]
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert not html(manager_client.get(job.get_absolute_url())).select(
        f"form[action='{reverse('imports:cancel', kwargs={'pk': job.pk})}']"
    )


def test_cancelling_twice_cancels_once(manager):
    job = lead_job(lead_rows(1))
    assert services.import_job_cancel(job=job, user=manager) is True
    first = ImportJob.objects.get(pk=job.pk).finished_at
    assert services.import_job_cancel(job=job, user=manager) is False
    assert ImportJob.objects.get(pk=job.pk).finished_at == first


def test_agents_cannot_cancel(agent_client):
    job = lead_job(lead_rows(1))
    assert cancel(agent_client, job).status_code == 403
    assert agent_client.get(reverse("imports:cancel", kwargs={"pk": job.pk})).status_code in (403, 405)
    job.refresh_from_db()
    assert job.status == ImportStatus.MAPPING


def test_a_running_import_shows_a_cancel_button(manager_client):
    job = ImportJob.objects.create(kind=ImportKind.LEADS, status=ImportStatus.RUNNING, total_rows=10, processed=4)
    page = html(manager_client.get(job.get_absolute_url()))
    assert page.select_one(f"form[action='{reverse('imports:cancel', kwargs={'pk': job.pk})}'] button")
