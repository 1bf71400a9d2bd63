"""`make run`'s demo data: three months of answered feedback, prices, and one source near its return cap."""

import time
from pathlib import Path

import pytest
from django.core.management import call_command

from feedbackportal.feedback.caps import cap_use_for
from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.imports import runner, services
from feedbackportal.imports.csv_reader import csv_preview
from feedbackportal.imports.models import ImportKind, ImportStatus
from feedbackportal.imports.reconcile_batches import guess_reconcile_mapping
from feedbackportal.imports.reconciliation import group_counts
from feedbackportal.leads.models import Lead, Source


@pytest.fixture
def demo_export(tmp_path) -> Path:
    return tmp_path / "leadconduit-feedback-export.csv"


@pytest.fixture
def seeded(db, settings, demo_export):
    settings.DEBUG = True
    started = time.monotonic()
    call_command("seed_demo", export_file=demo_export, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return time.monotonic() - started


def test_the_demo_has_feedback_in_every_final_status_from_several_agents(seeded):
    statuses = set(Feedback.objects.values_list("status", flat=True))
    assert statuses >= {Status.ACCEPTED, Status.REJECTED, Status.UNCONFIRMED, Status.FAILED, Status.CANCELLED}
    assert not statuses & {Status.QUEUED, Status.SENDING, Status.RETRYING}  # nothing the worker would send
    assert Feedback.objects.values("agent").distinct().count() >= 3
    assert Feedback.objects.filter(status=Status.UNCONFIRMED).count() >= 1


def test_the_demo_spans_three_months_with_prices(seeded):
    oldest = Feedback.objects.order_by("created_at").first()
    newest = Feedback.objects.order_by("-created_at").first()
    assert (newest.created_at - oldest.created_at).days >= 60
    assert Lead.objects.filter(price__isnull=False).count() > Lead.objects.count() // 2
    assert Lead.objects.filter(price=0).exists()


def test_one_demo_source_is_near_its_cap(seeded):
    use = cap_use_for(Source.objects.get(name="AutoCover Direct"))
    assert use is not None
    assert use.returns > 0
    assert use.used_percent is not None
    assert use.used_percent <= use.cap_percent
    assert use.used_percent >= use.cap_percent - 5


def test_every_unfinished_call_of_the_demo_has_its_attempt(seeded):
    without = Feedback.objects.exclude(status=Status.CANCELLED).filter(attempts__isnull=True)
    assert not without.exists()


def test_seeding_the_demo_stays_quick(seeded):
    assert seeded < 15  # a few seconds on an idle machine; generous for a busy CI runner


def test_the_demo_export_reconciles_into_every_group(seeded, demo_export):
    header, _ = csv_preview(lambda: demo_export.open("rb"))
    job = services.import_job_create(
        kind=ImportKind.RECONCILIATION, uploaded=None, name="demo.csv", column_mapping=guess_reconcile_mapping(header)
    )
    job = runner.run_import(job, lambda: demo_export.open("rb"))
    assert (job.status, job.skipped_count) == (ImportStatus.DONE, 0)

    counts, waiting = group_counts(job)
    unconfirmed = Feedback.objects.filter(status=Status.UNCONFIRMED).count()
    assert counts["agree"] > 50
    assert counts["confirmable"] == waiting == unconfirmed - 1  # one never reached LeadConduit
    assert (counts["missing"], counts["twice"], counts["differs"], counts["elsewhere"]) == (1, 1, 1, 2)


def test_seeding_again_keeps_the_demo_export(seeded, demo_export):
    written = demo_export.read_bytes()
    call_command("seed_demo", export_file=demo_export, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert demo_export.read_bytes() == written
