"""Bulk feedback: LeadConduit's "Import Feedback" CSV, each row through submit_feedback and the outbox."""

import csv
import io

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from psycopg.errors import DeadlockDetected

from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.imports import feedback_batches, runner, services
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.leads.models import SourceReasonWording
from feedbackportal.sandbox.models import SandboxCall
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db
IMPORT_FEEDBACK = reverse("imports:upload_feedback")


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def run_file(tmp_path, rows, feedback_type="return", user=None) -> ImportJob:
    """Preview the file, confirm it, and import it, in this process."""
    path = tmp_path / "feedback.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=None, name=path.name, feedback_type=feedback_type, user=user
    )
    job = runner.run_import(job, lambda: path.open("rb"))
    if job.status == ImportStatus.CONFIRM:
        services.import_job_confirm(job=job, user=user, run_in_worker=False)
        job = runner.run_import(job, lambda: path.open("rb"))
    return job


def results(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(job.rows.order_by("row_number").values_list("row_number", "result", "message"))


def test_each_row_becomes_a_feedback_through_the_service_and_outbox(tmp_path, make_lead, manager):
    first, second = make_lead(), make_lead()
    job = run_file(
        tmp_path,
        [["Event ID", "Reason"], [first.event_id, "Wrong number"], [second.event_id.upper(), "existing customer"]],
        user=manager,
    )
    assert (job.status, job.total_rows, job.created_count, job.skipped_count) == (ImportStatus.DONE, 2, 2, 0)
    feedbacks = list(Feedback.objects.order_by("pk"))
    assert [(fb.lead, fb.feedback_type, fb.reason_text, fb.agent, fb.status) for fb in feedbacks] == [
        (first, "return", "Wrong number", manager, Status.QUEUED),
        (second, "return", "Existing customer", manager, Status.QUEUED),
    ]
    assert feedbacks[0].note == f"Bulk upload #{job.pk} (feedback.csv), row 2."
    # The same outbox as an agent's feedback: one delivery task each, nothing sent from here.
    assert {str(task_id) for task_id in DBTaskResult.objects.values_list("id", flat=True)} == {
        fb.task_id for fb in feedbacks
    }
    assert results(job) == [
        (2, "created", f"Feedback #{feedbacks[0].pk} queued for LeadConduit."),
        (3, "created", f"Feedback #{feedbacks[1].pk} queued for LeadConduit."),
    ]


def test_a_file_without_a_header_is_read_as_event_id_then_reason(tmp_path, make_lead):
    lead = make_lead()
    job = run_file(tmp_path, [[lead.event_id, "Duplicate lead"]])
    assert (job.total_rows, job.created_count) == (1, 1)
    assert job.rows.get().row_number == 1
    assert Feedback.objects.get().reason_text == "Duplicate lead"


def test_a_conversion_file_may_have_only_event_ids(tmp_path, make_lead):
    leads = [make_lead(), make_lead()]
    job = run_file(tmp_path, [["event_id"], *([lead.event_id] for lead in leads)], feedback_type="conversion")
    assert job.created_count == 2
    assert list(Feedback.objects.values_list("feedback_type", "reason_text")) == [("conversion", "")] * 2


def test_bad_rows_are_reported_each_and_the_rest_imported(tmp_path, make_lead, return_reason):
    good, already, dup = make_lead(), make_lead(), make_lead()
    services_lead_live = Feedback.objects.create(lead=already, feedback_type="return", reason=return_reason)
    unknown = new_event_id()
    rows = [
        ["Event ID", "Reason"],
        [good.event_id, "Wrong number"],
        [unknown, "Wrong number"],
        ["5af4b98aa8065fa3a79bf4b", "Wrong number"],
        [dup.event_id, "Aliens took the phone"],
        [dup.event_id, "Sale closed"],
        [already.event_id, "Wrong number"],
        [good.event_id, "Disconnected number"],
        [dup.event_id, ""],
        ["", "Wrong number"],
    ]
    job = run_file(tmp_path, rows)
    assert (job.status, job.processed, job.created_count, job.skipped_count) == (ImportStatus.DONE, 9, 1, 8)
    assert results(job)[1:] == [
        (3, "skipped", "Unknown event id: the portal has no lead with it."),
        (4, "skipped", "“5af4b98aa8065fa3a79bf4b” is not an event id (24 characters, 0-9 and a-f)."),
        (5, "skipped", "Unknown reason “Aliens took the phone”: not in the return catalog."),
        (6, "skipped", "Unknown reason “Sale closed”: not in the return catalog."),
        (7, "skipped", "This lead already has a return (queued); it was not sent again."),
        (8, "skipped", "Duplicate: row 2 of this file already gave this feedback."),
        (9, "skipped", "Choose a reason for the return."),
        (10, "skipped", "No event id."),
    ]
    assert list(Feedback.objects.exclude(pk=services_lead_live.pk).values_list("lead", flat=True)) == [good.pk]


def test_a_sources_wording_is_read_as_its_reason_and_sent_as_is(tmp_path, make_lead, return_reason):
    from feedbackportal.leads.models import Source

    source = Source.objects.create(name="AutoCover", slug="autocover")
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    lead = make_lead(source=source)
    run_file(tmp_path, [[lead.event_id, "Invalid phone"]])
    assert Feedback.objects.values_list("reason", "reason_text").get() == (return_reason.pk, "Invalid phone")


def test_an_inactive_reason_is_reported_as_no_longer_in_use(tmp_path, make_lead, return_reason):
    Reason.objects.filter(pk=return_reason.pk).update(active=False)
    job = run_file(tmp_path, [[make_lead().event_id, "Wrong number"]])
    assert results(job) == [(1, "skipped", "“Wrong number” is no longer in use; choose another reason.")]


def test_a_file_that_is_neither_ids_nor_a_header_with_event_ids_fails_whole(tmp_path):
    job = run_file(tmp_path, [["name", "reason"], ["Joe", "Wrong number"]])
    assert job.status == ImportStatus.FAILED
    assert "Event ID" in job.error
    assert not Feedback.objects.exists()


def test_running_a_job_again_never_records_a_row_twice(tmp_path, make_lead):
    lead = make_lead()
    job = run_file(tmp_path, [[lead.event_id, "Wrong number"]])
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    runner.run_import(job, lambda: io.BytesIO(csv_bytes([[lead.event_id, "Wrong number"]])))
    assert Feedback.objects.count() == 1
    assert job.rows.count() == 1


# ---- The pages


def test_agents_cannot_upload_bulk_feedback(agent_client):
    assert agent_client.get(IMPORT_FEEDBACK).status_code == 403
    assert agent_client.post(IMPORT_FEEDBACK, {"file": upload([["x"]]), "feedback_type": "return"}).status_code == 403


def test_the_upload_needs_a_type(manager_client):
    response = manager_client.post(IMPORT_FEEDBACK, {"file": upload([["x"]])})
    assert response.status_code == 422
    assert "Choose Return or Conversion." in html(response).select_one("form [role=alert]").get_text()
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_manager_uploads_and_gets_per_row_results_and_a_result_file(
    manager_client, manager, lead_with_event, run_worker, sandbox_url
):
    lead = lead_with_event
    rows = [["Event ID", "Reason"], [lead.event_id, "Wrong number"], [new_event_id(), "Wrong number"]]
    response = manager_client.post(IMPORT_FEEDBACK, {"file": upload(rows, "returns.csv"), "feedback_type": "return"})
    job = ImportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert (job.status, job.kind, job.feedback_type) == (ImportStatus.QUEUED, "feedback", "return")

    progress = html(manager_client.get(job.get_absolute_url(), HTTP_HX_REQUEST="true"))
    assert progress.select_one("#import-progress")["hx-get"] == job.get_absolute_url()
    assert "Waiting for the worker" in progress.get_text()

    run_worker()  # the preview
    manager_client.post(reverse("imports:confirm", kwargs={"pk": job.pk}))
    run_worker()  # the import, then the delivery it queued
    job.refresh_from_db()
    assert (job.status, job.created_count, job.skipped_count) == (ImportStatus.DONE, 1, 1)
    assert Feedback.objects.get().status == Status.ACCEPTED
    assert SandboxCall.objects.get().event_id == lead.event_id

    page = html(manager_client.get(job.get_absolute_url(), HTTP_HX_REQUEST="true"))
    assert page.select_one("#import-progress").get("hx-get") is None
    rows_shown = [
        [td.get_text(" ", strip=True) for td in tr.select("td")] for tr in page.select("table.import-rows tbody tr")
    ]
    assert [row[:3] for row in rows_shown] == [["2", lead.event_id, "Created"], ["3", rows[2][0], "Skipped"]]

    download = manager_client.get(reverse("imports:results", kwargs={"pk": job.pk}))
    assert download["Content-Disposition"] == f'attachment; filename="import-{job.pk}-results.csv"'
    lines = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    feedback = Feedback.objects.get()
    assert lines == [
        ["row", "event_id", "result", "message", "feedback_id"],
        ["2", lead.event_id, "created", f"Feedback #{feedback.pk} queued for LeadConduit.", str(feedback.pk)],
        ["3", rows[2][0], "skipped", "Unknown event id: the portal has no lead with it.", ""],
    ]


def test_the_result_file_never_hands_a_spreadsheet_a_formula(manager_client):
    job = ImportJob.objects.create(kind="feedback", status=ImportStatus.DONE, feedback_type="return")
    job.rows.create(row_number=2, event_id='=HYPERLINK("http://x")', result="skipped", message="-1+1")
    download = manager_client.get(reverse("imports:results", kwargs={"pk": job.pk}))
    text = b"".join(download.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # so a spreadsheet reads it as UTF-8
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert lines[1][1:4] == ['\'=HYPERLINK("http://x")', "skipped", "'-1+1"]


# ---- The command


def test_the_import_feedback_command_prints_the_preview_then_every_rows_result(tmp_path, make_lead, capsys):
    lead = make_lead()
    path = tmp_path / "returns.csv"
    path.write_bytes(csv_bytes([[lead.event_id, "Wrong number"], ["nope", "Wrong number"]]))
    call_command("import_feedback", str(path), "--type", "return", "--yes")
    out = capsys.readouterr().out.splitlines()
    job = ImportJob.objects.get()
    assert out[:3] == [
        f"Preview of bulk feedback import #{job.pk} (returns.csv), returns:",
        "        2  rows in the file",
        "        1  rows naming a lead the portal has",
    ]
    assert "        1  will be sent to LeadConduit (one call each)" in out
    rows = [line for line in out if line.startswith("row ")]
    feedback = Feedback.objects.get()
    assert rows[0].split() == [
        "row",
        "1",
        lead.event_id,
        "created",
        "Feedback",
        f"#{feedback.pk}",
        "queued",
        "for",
        "LeadConduit.",
    ]
    assert rows[1].split()[:4] == ["row", "2", "nope", "skipped"]
    assert f"Bulk feedback import #{job.pk}: 2 rows, 1 created, 0 updated, 1 skipped." in out
    assert (job.status, job.confirmed_at is not None) == (ImportStatus.DONE, True)


def test_the_import_feedback_command_without_yes_and_without_a_terminal_sends_nothing(tmp_path, make_lead, capsys):
    path = tmp_path / "returns.csv"
    path.write_bytes(csv_bytes([[make_lead().event_id, "Wrong number"]]))
    with pytest.raises(CommandError, match="Nothing was sent"):
        call_command("import_feedback", str(path), "--type", "return")
    assert "will be sent to LeadConduit" in capsys.readouterr().out
    assert ImportJob.objects.get().status == ImportStatus.CANCELLED
    assert not Feedback.objects.exists()
    assert not DBTaskResult.objects.exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "sent"), [("y\n", 1), ("n\n", 0), ("\n", 0)])
def test_the_import_feedback_command_asks_at_a_terminal(tmp_path, make_lead, monkeypatch, answer, sent):
    path = tmp_path / "returns.csv"
    path.write_bytes(csv_bytes([[make_lead().event_id, "Wrong number"]]))
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    if sent:
        call_command("import_feedback", str(path), "--type", "return")
    else:
        with pytest.raises(CommandError, match="Nothing was sent"):
            call_command("import_feedback", str(path), "--type", "return")
    assert Feedback.objects.count() == sent


def test_the_import_feedback_command_needs_a_known_type(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"x\n")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("import_feedback", str(path), "--type", "refund")


def test_the_import_feedback_command_fails_on_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"name\nJoe\n")
    with pytest.raises(CommandError, match="Event ID"):
        call_command("import_feedback", str(path), "--type", "return")


def test_a_batch_the_database_rolled_back_to_break_a_deadlock_is_run_again(tmp_path, make_lead, monkeypatch):
    # Two batches (feedback or lead imports) that reach the same leads in opposite orders deadlock
    # (each feedback written locks its lead, migration leads/0012): PostgreSQL rolls one back.
    first, second = make_lead(), make_lead()
    real = feedback_batches._import_feedback_batch
    calls = []

    def deadlocked_once(*args, **kwargs):
        calls.append(1)
        real(*args, **kwargs)  # writes the whole batch, then loses it
        if len(calls) == 1:
            error = OperationalError("deadlock detected")
            error.__cause__ = DeadlockDetected()
            raise error

    monkeypatch.setattr(feedback_batches, "_import_feedback_batch", deadlocked_once)
    job = run_file(tmp_path, [[first.event_id, "Wrong number"], [second.event_id, "Wrong number"]])

    assert len(calls) == 2
    assert (job.status, job.created_count) == (ImportStatus.DONE, 2)
    assert Feedback.objects.count() == 2
    assert DBTaskResult.objects.count() == 2
    assert [result for _, result, _ in results(job)] == ["created", "created"]
