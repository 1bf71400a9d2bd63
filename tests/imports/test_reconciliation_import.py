"""Reconciliation as an import kind: LeadConduit's export read in batches, matched, and confirmed from."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackAction, Status
from feedbackportal.imports import reconcile_batches, runner, services
from feedbackportal.imports.csv_reader import csv_preview
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus, ReconciliationFinding
from feedbackportal.imports.reconciliation import reconciliation_confirm
from tests.conftest import new_event_id
from tests.helpers import make_feedback
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parent.parent / "fixtures" / "leadconduit_feedback_export.csv"
HEADER = ["Event ID", "Type", "Outcome", "Reason", "Time", "Source"]
# What the portal holds for the sample export's event ids (…b5 it never sent).
SAMPLE_PORTAL = {"b3": Status.ACCEPTED, "b4": Status.REJECTED, "b6": Status.UNCONFIRMED, "b7": Status.ACCEPTED}


def sample_portal(make_lead, reason) -> dict[str, Feedback]:
    return {
        suffix: make_feedback(make_lead(event_id=f"5af4b98aa8065fa3a79bf4{suffix}"), reason, status=status)
        for suffix, status in SAMPLE_PORTAL.items()
    }


def reconcile_file(path: Path, mapping: dict[str, str] | None = None) -> ImportJob:
    header, _ = csv_preview(lambda: path.open("rb"))
    job = services.import_job_create(
        kind=ImportKind.RECONCILIATION,
        uploaded=None,
        name=path.name,
        column_mapping=mapping or reconcile_batches.guess_reconcile_mapping(header),
    )
    return runner.run_import(job, lambda: path.open("rb"))


def reconcile_rows(tmp_path, rows: list[list[str]]) -> ImportJob:
    path = tmp_path / "export.csv"
    path.write_bytes(csv_bytes(rows))
    return reconcile_file(path)


def findings(job: ImportJob) -> dict[str, list[tuple[str, list[int]]]]:
    found: dict[str, list[tuple[str, list[int]]]] = {}
    for finding in job.findings.order_by("pk"):
        found.setdefault(finding.group, []).append((finding.event_id, finding.row_numbers))
    return found


def test_the_guess_reads_leadconduits_export_headers():
    header = ["Event ID", "Feedback Type", "Outcome", "Reason", "Timestamp", "Source", "Recipient"]
    assert reconcile_batches.guess_reconcile_mapping(header) == {
        "event_id": "Event ID",
        "feedback_type": "Feedback Type",
        "outcome": "Outcome",
        "reason": "Reason",
        "time": "Timestamp",
    }


def test_the_recorded_sample_export_is_read_row_by_row_and_falls_into_its_groups(make_lead, return_reason):
    sample_portal(make_lead, return_reason)
    job = reconcile_file(SAMPLE)

    assert (job.status, job.total_rows, job.processed, job.skipped_count) == (ImportStatus.DONE, 7, 7, 0)
    assert findings(job) == {
        "agree": [("5af4b98aa8065fa3a79bf4b3", [2]), ("5af4b98aa8065fa3a79bf4b4", [3])],
        "confirmable": [("5af4b98aa8065fa3a79bf4b6", [6])],
        "elsewhere": [("5af4b98aa8065fa3a79bf4b5", [4])],
        "twice": [("5af4b98aa8065fa3a79bf4b7", [7, 8])],
    }
    rows = {row.row_number: row for row in job.rows.all()}
    assert (rows[5].group, rows[5].outcome, rows[5].reason) == ("confirmable", "error", "Unexpected platform error")
    assert rows[2].extra == {"Source": "SunPeak Solar Leads", "Recipient": "Feedback Portal"}  # extra columns kept
    assert rows[2].at == datetime.fromisoformat("2026-03-02T15:04:11+00:00")


def test_rows_that_cannot_be_matched_are_skipped_with_a_reason_each(tmp_path, make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    job = reconcile_rows(
        tmp_path,
        [
            HEADER,
            [lead.event_id.upper(), "Return", "Success", "Wrong number", "yesterday", "S"],
            ["nope", "return", "success", "", "", ""],
            [new_event_id(), "refund", "success", "", "", ""],
            [new_event_id(), "return", "maybe", "", "", ""],
            ["", "", "", "", "", ""],
        ],
    )
    assert (job.status, job.skipped_count) == (ImportStatus.DONE, 4)
    assert list(job.rows.values_list("row_number", "result", "group", "message")) == [
        (2, "read", "agree", "Time “yesterday” not read; the row is matched without it."),
        (3, "skipped", "", "“nope” is not an event id (24 characters, 0-9 and a-f)."),
        (4, "skipped", "", "“refund” is neither a return nor a conversion."),
        (5, "skipped", "", "“maybe” is not an outcome LeadConduit records (success, failure or error)."),
        (6, "skipped", "", "Empty row."),
    ]


def test_a_mapping_that_does_not_fit_the_file_stops_the_reconciliation_saying_why(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_bytes([HEADER, [new_event_id(), "return", "success", "", "", ""]]))
    for mapping, message in [
        ({"event_id": "Event ID", "feedback_type": "Type"}, "No column is mapped to the outcome."),
        (
            {"event_id": "Event ID", "feedback_type": "Kind", "outcome": "Outcome"},
            "The file has no column “Kind” (mapped to the type).",
        ),
    ]:
        job = reconcile_file(path, mapping)
        assert (job.status, job.error, job.rows.count()) == (ImportStatus.FAILED, message, 0)


def test_an_accepted_feedback_of_the_exports_days_and_types_that_it_lacks_is_flagged(
    tmp_path, make_lead, return_reason, conversion_reason
):
    answered = timezone.make_aware(datetime(2026, 3, 10, 12, 0))
    listed, lacking, other_day, converted = make_lead(), make_lead(), make_lead(), make_lead()
    make_feedback(listed, return_reason, status=Status.ACCEPTED, answered_at=answered)
    lacking_feedback = make_feedback(lacking, return_reason, status=Status.ACCEPTED, answered_at=answered)
    make_feedback(
        other_day, return_reason, status=Status.ACCEPTED, answered_at=timezone.make_aware(datetime(2026, 3, 12))
    )
    make_feedback(converted, conversion_reason, status=Status.ACCEPTED, answered_at=answered)  # no conversions exported
    job = reconcile_rows(
        tmp_path,
        [
            HEADER,
            [listed.event_id, "return", "success", "", "2026-03-09 08:00", ""],
            [new_event_id(), "return", "success", "", "2026-03-11 20:00", ""],
        ],
    )
    missing = job.findings.get(group="missing")
    assert (missing.event_id, missing.feedback_id, missing.row_numbers) == (lacking.event_id, lacking_feedback.pk, [])


def test_matching_walks_keys_across_pages(tmp_path, make_lead, return_reason, monkeypatch):
    monkeypatch.setattr(reconcile_batches, "BATCH", 2)  # pages of 8 rows, batches of 2 keys
    leads = [make_lead() for _ in range(5)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.ACCEPTED)
    rows = [HEADER] + [[lead.event_id, "return", "success", "", "", ""] for lead in leads for _ in range(2)]
    rows += [[leads[0].event_id, "conversion", "success", "", "", ""]]
    job = reconcile_rows(tmp_path, rows)
    assert sorted((f.event_id, f.group, len(f.row_numbers)) for f in job.findings.all()) == sorted(
        [(lead.event_id, "twice", 2) for lead in leads] + [(leads[0].event_id, "elsewhere", 1)]
    )


def test_a_matching_run_again_replaces_its_findings(make_lead, return_reason):
    sample_portal(make_lead, return_reason)
    job = reconcile_file(SAMPLE)
    reconcile_batches.match_export(job)
    assert ReconciliationFinding.objects.filter(job=job).count() == 5


def test_confirming_all_empties_the_unconfirmed_queue_with_the_rows_as_evidence(
    tmp_path, make_lead, return_reason, manager
):
    leads = [make_lead() for _ in range(3)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    job = reconcile_rows(tmp_path, [HEADER] + [[lead.event_id, "return", "success", "", "", ""] for lead in leads])

    assert reconciliation_confirm(job=job, actor=manager) == (3, [])

    assert not Feedback.objects.needs_attention().exists()
    comments = sorted(FeedbackAction.objects.filter(action=ActionKind.CONFIRMED).values_list("comment", flat=True))
    assert comments == [f"mark delivered, evidence: reconciliation {job.pk}, row {n}" for n in (2, 3, 4)]
    assert reconciliation_confirm(job=job, actor=manager) == (0, [])  # a second click finds nothing left


def test_confirming_one_finding_leaves_the_others(tmp_path, make_lead, return_reason, manager):
    leads = [make_lead() for _ in range(2)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    job = reconcile_rows(tmp_path, [HEADER] + [[lead.event_id, "return", "success", "", "", ""] for lead in leads])
    first = job.findings.get(event_id=leads[0].event_id)

    assert reconciliation_confirm(job=job, actor=manager, finding_ids=[first.pk]) == (1, [])
    assert list(Feedback.objects.needs_attention().values_list("lead", flat=True)) == [leads[1].pk]


def test_an_unfinished_reconciliation_confirms_nothing(make_lead, return_reason, manager):
    job = services.import_job_create(kind=ImportKind.RECONCILIATION, uploaded=None, name="x.csv")
    assert job.status == ImportStatus.MAPPING
    assert reconciliation_confirm(job=job, actor=manager) == (
        0,
        ["Only a finished reconciliation can confirm feedback."],
    )


def test_a_reconciliation_whose_worker_died_while_matching_resumes_without_reading_twice(
    make_lead, return_reason, monkeypatch
):
    sample_portal(make_lead, return_reason)
    header, _ = csv_preview(lambda: SAMPLE.open("rb"))
    job = services.import_job_create(
        kind=ImportKind.RECONCILIATION,
        uploaded=None,
        name=SAMPLE.name,
        column_mapping=reconcile_batches.guess_reconcile_mapping(header),
    )
    monkeypatch.setattr(reconcile_batches, "READ_BATCH_SIZE", 3)

    def dies(job: ImportJob) -> None:
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(reconcile_batches, "match_export", dies)
    with pytest.raises(SystemExit):
        runner.run_import(job, lambda: SAMPLE.open("rb"))
    job.refresh_from_db()
    assert (job.status, job.processed, job.findings.count()) == (ImportStatus.RUNNING, 7, 0)

    monkeypatch.undo()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)  # what the sweeper does
    job = runner.run_import(job, lambda: SAMPLE.open("rb"))

    assert (job.status, job.processed, job.rows.count()) == (ImportStatus.DONE, 7, 7)
    assert sorted(job.findings.values_list("group", flat=True)) == [
        "agree", "agree", "confirmable", "elsewhere", "twice"
    ]  # fmt: skip


def test_a_reconciliation_cancelled_once_every_row_is_read_is_not_matched(make_lead, return_reason, monkeypatch):
    sample_portal(make_lead, return_reason)
    header, _ = csv_preview(lambda: SAMPLE.open("rb"))
    job = services.import_job_create(
        kind=ImportKind.RECONCILIATION,
        uploaded=None,
        name=SAMPLE.name,
        column_mapping=reconcile_batches.guess_reconcile_mapping(header),
    )
    read_in_batches = reconcile_batches.batches

    def cancelled_after_reading(*args, **kwargs):
        yield from read_in_batches(*args, **kwargs)
        assert services.import_job_cancel(job=job, user=None)  # a manager's cancel, as matching begins

    monkeypatch.setattr(reconcile_batches, "batches", cancelled_after_reading)
    job = runner.run_import(job, lambda: SAMPLE.open("rb"))

    assert (job.status, job.processed, job.findings.count()) == (ImportStatus.CANCELLED, 7, 0)


def test_the_sweeper_leaves_a_reconciliation_that_beat_while_it_looked(make_lead, return_reason, monkeypatch):
    # Matching holds the job's row in one long transaction; a sweep that found its heartbeat stale
    # waits for the row, then sees the beat matching closed with, and must not start a second run.
    from feedbackportal.imports import sweeper

    job = ImportJob.objects.create(
        kind=ImportKind.RECONCILIATION,
        status=ImportStatus.RUNNING,
        original_name="export.csv",
        task_id="an-old-task",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    def beats_meanwhile(task_id, now):
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        return False

    monkeypatch.setattr(sweeper, "task_alive", beats_meanwhile)
    assert sweeper.resume_imports(now=timezone.now()) == {"imports_resumed": 0}
    job.refresh_from_db()
    assert (job.status, job.task_id) == (ImportStatus.RUNNING, "an-old-task")
