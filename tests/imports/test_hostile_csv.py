"""A wide or endless CSV is refused with a message, never held in memory whole, never a 500."""

import io
import tracemalloc

import pytest
from django.urls import reverse

from bench.generated import Endless
from feedbackportal.imports import runner, services
from feedbackportal.imports.csv_reader import ImportRefused, csv_preview
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.leads.models import Lead
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db


def wide_header(columns: int) -> Endless:
    # "c,c,c,…": `columns` columns on one line, generated as it is read.
    return Endless(b"c,", size=2 * columns)


def read_preview(file: Endless) -> tuple[ImportRefused, int]:
    tracemalloc.start()
    try:
        with pytest.raises(ImportRefused) as refused:
            csv_preview(lambda: io.BufferedReader(file))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return refused.value, peak


def test_a_header_of_a_million_columns_is_refused_reading_a_sliver_of_it():
    file = wide_header(1_000_000)
    refused, peak = read_preview(file)
    assert "IMPORT_MAX_ROW_CHARS" in refused.message
    assert file.given < 200_000  # of 2,000,000 bytes
    assert peak < 5_000_000


def test_a_200_mb_single_line_file_is_refused_reading_a_sliver_of_it():
    file = Endless(b"x" * 1000, size=200 * 1024 * 1024)
    refused, peak = read_preview(file)
    assert "over 100,000 characters" in refused.message
    assert file.given < 200_000
    assert peak < 5_000_000


def test_a_header_wider_than_the_column_cap_is_refused_before_anything_is_built(settings):
    settings.IMPORT_MAX_COLUMNS = 10
    with pytest.raises(ImportRefused, match="11 columns; an import takes at most 10"):
        csv_preview(lambda: io.BytesIO(csv_bytes([[f"c{n}" for n in range(11)], ["x"] * 11])))
    header, _ = csv_preview(lambda: io.BytesIO(csv_bytes([[f"c{n}" for n in range(10)]])))
    assert len(header) == 10


def test_the_mapping_page_of_a_too_wide_file_fails_the_job_with_a_message_and_then_shows_it(manager_client, settings):
    settings.IMPORT_MAX_COLUMNS = 50
    response = manager_client.post(reverse("imports:upload_leads"), {"file": upload([["c"] * 51, ["x"] * 51])})
    job = ImportJob.objects.get()
    mapping = reverse("imports:mapping", kwargs={"pk": job.pk})
    assert response["Location"] == mapping
    assert manager_client.get(mapping)["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "51 columns; an import takes at most 50" in job.error
    for _ in range(2):  # every later visit: the job page with the message, never a 500
        assert manager_client.get(mapping)["Location"] == job.get_absolute_url()
        page = manager_client.get(job.get_absolute_url())
        assert page.status_code == 200
        assert "51 columns" in page.content.decode()


def test_a_row_too_wide_stops_the_import_with_a_message(tmp_path, settings):
    settings.IMPORT_MAX_COLUMNS = 3
    good = new_event_id()
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([["event_id", "first_name"], [good, "Ann"], [new_event_id(), "a", "b", "c", "d"]]))
    job = services.import_job_create(
        kind=ImportKind.LEADS, uploaded=None, name=path.name, column_mapping={"event_id": "event_id"}
    )
    job = runner.run_import(job, lambda: path.open("rb"))
    assert job.status == ImportStatus.FAILED
    assert "5 columns; an import takes at most 3" in job.error


def test_a_leads_raw_payload_keeps_at_most_the_cell_cap_of_each_cell(tmp_path, settings):
    settings.IMPORT_MAX_CELL_CHARS = 50
    event_id = new_event_id()
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([["event_id", "notes"], [event_id, "n" * 5000]]))
    job = services.import_job_create(
        kind=ImportKind.LEADS, uploaded=None, name=path.name, column_mapping={"event_id": "event_id"}
    )
    assert runner.run_import(job, lambda: path.open("rb")).status == ImportStatus.DONE
    assert Lead.objects.get(event_id=event_id).raw_payload == {"event_id": event_id, "notes": "n" * 50}
