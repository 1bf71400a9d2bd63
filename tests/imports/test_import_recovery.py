from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import Feedback
from feedbackportal.feedback.sweeper import sweep
from feedbackportal.imports.feedback_preview import FeedbackPreview
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.services import import_job_create, import_job_start
from feedbackportal.leads.models import Lead
from tests.conftest import new_event_id
from tests.imports.conftest import upload

LONG_AGO = timedelta(hours=2)


@pytest.fixture
def started_import(db) -> ImportJob:
    rows = [["Event ID", "First"]] + [[new_event_id(), f"Name{n}"] for n in range(5)]
    job = import_job_create(
        kind=ImportKind.LEADS,
        uploaded=upload(rows),
        name="leads.csv",
        column_mapping={"event_id": "Event ID", "first_name": "First"},
    )
    return import_job_start(job=job)


def worker_died_during(job: ImportJob) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now() - LONG_AGO)
    DBTaskResult.objects.filter(pk=job.task_id).update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - LONG_AGO
    )


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_died_is_resumed_by_the_sweeper(started_import, run_worker):
    worker_died_during(started_import)
    assert sweep().others["imports_resumed"] == 1
    run_worker()
    job = ImportJob.objects.get(pk=started_import.pk)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.processed) == (5, 5)
    assert Lead.objects.count() == 5
    assert sweep().others["imports_resumed"] == 0


def test_an_import_that_is_still_moving_is_left_alone(started_import):
    worker_died_during(started_import)
    ImportJob.objects.filter(pk=started_import.pk).update(heartbeat_at=timezone.now())
    assert sweep().others["imports_resumed"] == 0


def test_a_queued_import_with_its_task_waiting_is_left_alone(started_import):
    ImportJob.objects.filter(pk=started_import.pk).update(created_at=timezone.now() - LONG_AGO)
    assert sweep().others["imports_resumed"] == 0  # its task is READY: a worker will take it


@pytest.mark.django_db(transaction=True)
def test_a_feedback_preview_whose_worker_died_is_read_again_and_still_sends_nothing(make_lead, run_worker):
    rows = [[make_lead().event_id, "Wrong number"] for _ in range(3)]
    job = import_job_create(kind=ImportKind.FEEDBACK, uploaded=upload(rows), name="f.csv", feedback_type="return")
    job = import_job_start(job=job)
    worker_died_during(job)
    assert sweep().others["imports_resumed"] == 1
    run_worker()
    job.refresh_from_db()
    assert (job.status, FeedbackPreview.of(job).send) == (ImportStatus.CONFIRM, 3)
    assert not Feedback.objects.exists()
    assert sweep().others["imports_resumed"] == 0  # waiting for a person, not for a worker
