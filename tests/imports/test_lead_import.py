"""Lead CSV imports: upload, map columns with a preview, import in the worker, per-row results."""

import tracemalloc
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from feedbackportal.imports import csv_reader, lead_batches, runner, services
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.leads.models import Lead, Source
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db

HEADER = ["Event ID", "First Name", "Last Name", "Email", "Phone 1", "City", "Submission Timestamp"]


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def run_file(tmp_path, rows, *, mapping=None, source=None) -> ImportJob:
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes(rows))
    header = rows[0]
    job = services.import_job_create(
        kind=ImportKind.LEADS,
        uploaded=None,
        name=path.name,
        source=source,
        column_mapping=mapping or csv_reader.guess_mapping(header, source),
    )
    return runner.run_import(job, lambda: path.open("rb"))


def results(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(job.rows.order_by("row_number").values_list("row_number", "result", "message"))


# ---- The service


def test_a_date_at_the_calendars_edge_skips_that_row_not_the_file(tmp_path, source):
    good = new_event_id()
    rows = [
        HEADER,
        [new_event_id(), "Early", "", "", "", "", "0001-01-01T00:00:00+01:00"],
        [good, "Fine", "", "", "", "", "2026-03-05 10:00"],
        [new_event_id(), "Late", "", "", "", "", "9999-12-31T23:59:59-12:00"],
    ]
    job = run_file(tmp_path, rows, source=source)
    assert (job.status, job.created_count, job.skipped_count) == (ImportStatus.DONE, 1, 2)
    assert [row[1] for row in results(job)] == ["skipped", "created", "skipped"]
    assert Lead.objects.get().event_id == good


def test_it_creates_updates_and_skips_rows_with_a_reason_each(tmp_path, source):
    known = Lead.objects.create(event_id=new_event_id(), first_name="Old", email="old@example.com")
    new_id = new_event_id()
    rows = [
        HEADER,
        [new_id.upper(), "Ann", "Lee", "Ann@Example.com", "512-555-0101", "Austin", "2026-03-05T14:30:00Z"],
        [known.event_id, "Ned", "", "", "", "Dallas", ""],
        ["", "No", "Id", "", "", "", ""],
        ["not-an-event-id", "Bad", "Id", "", "", "", ""],
        [new_event_id(), "Bad", "Date", "", "", "", "yesterday-ish"],
        ["", "", "", "", "", "", ""],
        [new_id, "Ann", "Lee-Smith", "", "", "", ""],
    ]
    job = run_file(tmp_path, rows, source=source)

    assert (job.status, job.total_rows, job.processed) == (ImportStatus.DONE, 7, 7)
    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 2, 4)
    assert results(job) == [
        (2, "created", ""),
        (3, "updated", ""),
        (4, "skipped", "No event id."),
        (5, "skipped", "“not-an-event-id” is not an event id (24 characters, 0-9 and a-f)."),
        (6, "skipped", "“yesterday-ish” is not a date we can read (use e.g. 2026-03-05 14:30)."),
        (7, "skipped", "Empty row."),
        (8, "updated", ""),
    ]
    ann = Lead.objects.get(event_id=new_id)
    assert (ann.first_name, ann.last_name, ann.email, ann.phone_digits) == (
        "Ann",
        "Lee-Smith",
        "ann@example.com",
        "5125550101",
    )
    assert ann.received_at == datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert (ann.source, ann.source_name) == (source, "HomeShield")
    assert ann.raw_payload["Submission Timestamp"] == ""  # the last row it came from
    known.refresh_from_db()
    assert (known.first_name, known.email, known.city, known.source) == ("Ned", "old@example.com", "Dallas", source)
    assert Lead.objects.count() == 2


def test_columns_are_mapped_by_the_managers_choice(tmp_path):
    event_id = new_event_id()
    rows = [["id_of_event", "fn", "tel"], [event_id, "Zoe", "(303) 555-0199"]]
    job = run_file(tmp_path, rows, mapping={"event_id": "id_of_event", "first_name": "fn", "phone": "tel"})
    assert job.created_count == 1
    lead = Lead.objects.get()
    assert (lead.first_name, lead.phone_digits) == ("Zoe", "3035550199")


def test_the_guess_reads_crm_and_leadconduit_headers_and_the_sources_own_names(db):
    source = Source.objects.create(name="S", slug="s", field_mapping={"phone": "cell"})
    assert csv_reader.guess_mapping([*HEADER, "cell", "ZIP"], source) == {
        "event_id": "Event ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "phone": "cell",
        "city": "City",
        "postal_code": "ZIP",
        "received_at": "Submission Timestamp",
    }


def test_a_lead_of_another_source_is_left_alone(tmp_path, source):
    other = Source.objects.create(name="Other", slug="other")
    lead = Lead.objects.create(event_id=new_event_id(), first_name="Kim", source=other)
    job = run_file(tmp_path, [["event_id", "first_name"], [lead.event_id, "Changed"]], source=source)
    assert results(job) == [(2, "skipped", "This event id belongs to a lead from another source; not changed.")]
    lead.refresh_from_db()
    assert lead.first_name == "Kim"


def test_a_file_without_the_mapped_column_fails_clearly(tmp_path):
    job = run_file(tmp_path, [["a", "b"], ["1", "2"]], mapping={"event_id": "Event ID"})
    assert job.status == ImportStatus.FAILED
    assert "no column “Event ID”" in job.error


def test_an_interrupted_import_goes_on_from_where_it_stopped(tmp_path):
    rows = [["event_id"], *([new_event_id()] for _ in range(7))]
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.LEADS, uploaded=None, name="x.csv", column_mapping={"event_id": "event_id"}
    )
    # Three rows were in when its worker died; the sweeper put it back in the queue.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED, processed=3, total_rows=7)
    job = runner.run_import(ImportJob.objects.get(pk=job.pk), lambda: path.open("rb"))
    assert job.processed == 7
    assert list(job.rows.values_list("row_number", flat=True)) == [5, 6, 7, 8]
    assert set(Lead.objects.values_list("event_id", flat=True)) == {row[0] for row in rows[4:]}


def test_a_job_already_running_is_not_run_a_second_time(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([["event_id"], [new_event_id()]]))
    job = services.import_job_create(
        kind=ImportKind.LEADS, uploaded=None, name="x.csv", column_mapping={"event_id": "event_id"}
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    job = runner.run_import(ImportJob.objects.get(pk=job.pk), lambda: path.open("rb"))
    assert (job.status, job.processed) == (ImportStatus.RUNNING, 0)
    assert not Lead.objects.exists()


def test_starting_an_import_twice_enqueues_it_once(tmp_path):
    job = services.import_job_create(kind=ImportKind.LEADS, uploaded=None, name="x.csv")
    services.import_job_start(job=job, column_mapping={"event_id": "event_id"})
    services.import_job_start(job=ImportJob.objects.get(pk=job.pk), column_mapping={"event_id": "event_id"})
    assert DBTaskResult.objects.count() == 1


def test_memory_stays_bounded_whatever_the_number_of_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(lead_batches, "BATCH_SIZE", 200)

    def peak(rows: int) -> int:
        lines = [["event_id", "first_name", "email"]]
        lines += [[new_event_id(), f"Name{n}", f"person{n}@example.com"] for n in range(rows)]
        path = tmp_path / f"{rows}.csv"
        path.write_bytes(csv_bytes(lines))
        del lines
        job = services.import_job_create(
            kind=ImportKind.LEADS,
            uploaded=None,
            name=path.name,
            column_mapping=csv_reader.guess_mapping(["event_id", "first_name", "email"]),
        )
        tracemalloc.start()
        try:
            runner.run_import(job, lambda: path.open("rb"))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(500), peak(4000)
    assert Lead.objects.count() == 4500
    # Eight times the rows, about the same memory: one batch at a time, never the whole file.
    assert large < small * 2, (small, large)


# ---- The pages


IMPORT_LEADS = reverse("imports:upload_leads")


def test_agents_cannot_import(agent_client):
    assert agent_client.get(IMPORT_LEADS).status_code == 403
    assert agent_client.get(reverse("imports:list")).status_code == 403
    assert agent_client.post(IMPORT_LEADS, {"file": upload([["event_id"]])}).status_code == 403
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)  # the real worker commits and closes its connections
def test_a_manager_uploads_maps_with_a_preview_and_sees_the_results(manager_client, manager, source, run_worker):
    event_id = new_event_id()
    rows = [["Lead Event", "First Name", "Phone 1"], [event_id, "Ann", "512-555-0101"], ["oops", "Bob", ""]]
    response = manager_client.post(IMPORT_LEADS, {"file": upload(rows), "source": source.pk})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("imports:mapping", kwargs={"pk": job.pk})
    assert (job.status, job.created_by, job.source, job.original_name) == (
        ImportStatus.MAPPING,
        manager,
        source,
        "leads.csv",
    )

    page = html(manager_client.get(response["Location"]))
    assert [th.get_text() for th in page.select("table.preview th")] == rows[0]
    assert [[td.get_text() for td in tr.select("td")] for tr in page.select("table.preview tbody tr")] == rows[1:]
    assert page.select_one("select[name=first_name] option[selected]")["value"] == "First Name"
    assert page.select_one("select[name=event_id] option[selected]")["value"] == ""  # "Lead Event" is not guessed

    mapping = {"event_id": "Lead Event", "first_name": "First Name", "phone": "Phone 1"}
    response = manager_client.post(response["Location"], mapping)
    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert (job.status, job.column_mapping) == (ImportStatus.QUEUED, mapping)
    page = html(manager_client.get(job.get_absolute_url()))
    assert page.select_one("#import-progress")["hx-trigger"] == "every 1s"

    run_worker()
    page = html(manager_client.get(job.get_absolute_url()))
    assert page.select_one("#import-progress").get("hx-get") is None
    assert page.select_one("progress")["value"] == page.select_one("progress")["max"] == "2"
    assert [
        [td.get_text(" ", strip=True) for td in tr.select("td")] for tr in page.select("table.import-rows tbody tr")
    ] == [
        ["2", event_id, "Created", "—"],
        ["3", "oops", "Skipped", "“oops” is not an event id (24 characters, 0-9 and a-f)."],
    ]
    assert Lead.objects.get(event_id=event_id).source == source


def test_the_mapping_needs_an_event_id_column(manager_client):
    manager_client.post(IMPORT_LEADS, {"file": upload([["a", "b"], ["1", "2"]])})
    job = ImportJob.objects.get()
    response = manager_client.post(reverse("imports:mapping", kwargs={"pk": job.pk}), {"first_name": "a"})
    assert response.status_code == 422
    assert "Choose the column that holds the event id." in html(response).select_one("form [role=alert]").get_text()
    job.refresh_from_db()
    assert job.status == ImportStatus.MAPPING


def test_an_empty_upload_is_refused(manager_client):
    response = manager_client.post(IMPORT_LEADS, {"file": upload([], name="empty.csv")})
    assert response.status_code == 422
    assert not ImportJob.objects.exists()


# ---- The command


def test_the_import_leads_command_imports_a_file_and_prints_the_skipped_rows(tmp_path, source, capsys):
    event_id = new_event_id()
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes([["event_id", "first_name"], [event_id, "Ann"], ["nope", "Bob"]]))
    call_command("import_leads", str(path), "--source", source.slug)
    out = capsys.readouterr().out
    assert "event_id ← 'event_id'" in out
    assert "row      3  nope" in out
    assert "is not an event id" in out
    assert "2 rows, 1 created, 0 updated, 1 skipped." in out
    assert Lead.objects.get().source == source


def test_the_import_leads_command_takes_a_mapping(tmp_path, capsys):
    path = tmp_path / "crm.csv"
    path.write_bytes(csv_bytes([["ref", "who"], [new_event_id(), "Ann"]]))
    call_command("import_leads", str(path), "--map", "event_id=ref", "--map", "first_name=who")
    assert Lead.objects.get().first_name == "Ann"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--map", "colour=ref"], "Unknown field"),
        (["--map", "event_id=nope"], "no column"),
        (["--source", "nobody"], "No source"),
        ([], "No column holds the event id"),
    ],
)
def test_the_import_leads_command_refuses_what_it_cannot_do(tmp_path, db, args, words):
    from django.core.management.base import CommandError

    path = tmp_path / "crm.csv"
    path.write_bytes(csv_bytes([["ref"], [new_event_id()]]))
    with pytest.raises(CommandError, match=words):
        call_command("import_leads", str(path), *args)


@pytest.mark.parametrize(("asked", "shown"), [("skipped", ["skipped"]), ("bogus", ["created", "skipped"]), ("", None)])
def test_the_results_page_filters_rows_by_result_and_ignores_an_unknown_one(tmp_path, manager_client, asked, shown):
    job = run_file(tmp_path, [["event_id", "first_name"], [new_event_id(), "Ann"], ["not-an-id", "Bo"]])

    page = html(manager_client.get(reverse("imports:detail", args=[job.pk]), {"result": asked}))

    results = sorted({row["class"][0].removeprefix("row-") for row in page.select("tbody tr[class^=row-]")})
    assert results == (shown or ["created", "skipped"])
    current = page.select_one("nav.tabs a[aria-current=page]")
    assert current is not None
    assert current.get_text(" ", strip=True).split()[0] == {"skipped": "Skipped"}.get(asked, "All")
