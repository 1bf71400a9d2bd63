"""A wide or endless CSV is refused with a message, never held in memory whole, never a 500."""

import io
import random
import tracemalloc
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
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


# ---- A file that is not text is refused at upload, storing nothing

XLSX_HEAD = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + b"\x00" * 40
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
UPLOADS = [
    (reverse("imports:upload_leads"), {}),
    (reverse("imports:upload_feedback"), {"feedback_type": "return"}),
]


def post_file(client, url: str, fields: dict, content: bytes, name: str = "data.csv"):
    return client.post(url, {"file": SimpleUploadedFile(name, content, content_type="text/csv"), **fields})


def stored_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


@pytest.mark.parametrize(("url", "fields"), UPLOADS)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (XLSX_HEAD, "This is a ZIP archive (an Excel .xlsx workbook is one), not a CSV file."),
        (PNG_HEAD, "This is a PNG image, not a CSV file."),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "This is a PDF document, not a CSV file."),
        (random.Random(12).randbytes(4096), "This file is not text (it holds binary data), so it is not a CSV file."),
        (b"\xff\xfeE\x00v\x00e\x00n\x00t\x00", "This file is UTF-16 text."),
    ],
    ids=["xlsx", "png", "pdf", "random-bytes", "utf-16"],
)
def test_a_binary_file_is_refused_at_upload_and_nothing_is_stored(
    manager_client, settings, url, fields, content, message
):
    response = post_file(manager_client, url, fields, content)
    assert response.status_code == 422
    alert = BeautifulSoup(response.content, "html.parser").select_one(".field [role=alert]")
    assert alert.get_text(strip=True) == message + " Save the data as CSV (UTF-8) and upload that."
    assert not ImportJob.objects.exists()
    assert stored_files(settings) == []


def test_text_with_a_stray_non_utf8_accent_is_still_accepted(manager_client):
    content = "event_id,first_name\n5af4b98aa8065fa3a79bf4b3,José\n".encode("latin-1")
    response = post_file(manager_client, reverse("imports:upload_leads"), {}, content)
    assert response.status_code == 302
    assert ImportJob.objects.get().status == ImportStatus.MAPPING


def test_the_import_commands_refuse_a_binary_file(tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(XLSX_HEAD)
    with pytest.raises(CommandError, match="ZIP archive"):
        call_command("import_leads", str(path))
    with pytest.raises(CommandError, match="ZIP archive"):
        call_command("import_feedback", str(path), "--type", "return", "--yes")
    assert not ImportJob.objects.exists()


# ---- A job that failed, or whose file is gone, still has a page


def test_a_feedback_job_that_failed_in_the_worker_shows_its_message_on_every_visit(tmp_path, manager_client):
    path = tmp_path / "feedback.csv"
    path.write_bytes(csv_bytes([["name"], ["Joe"]]))
    job = services.import_job_create(kind=ImportKind.FEEDBACK, uploaded=None, name="f.csv", feedback_type="return")
    job = runner.run_import(job, lambda: path.open("rb"))
    assert job.status == ImportStatus.FAILED
    for _ in range(2):
        page = manager_client.get(job.get_absolute_url())
        assert page.status_code == 200
        alert = BeautifulSoup(page.content, "html.parser").select_one("#import-progress [role=alert]")
        assert "Event ID" in alert.get_text()


def test_the_mapping_page_of_a_job_whose_file_is_gone_fails_the_job_instead_of_a_500(manager_client, settings):
    manager_client.post(reverse("imports:upload_leads"), {"file": upload([["event_id"], [new_event_id()]])})
    job = ImportJob.objects.get()
    for path in stored_files(settings):
        path.unlink()
    mapping = reverse("imports:mapping", kwargs={"pk": job.pk})
    assert manager_client.get(mapping)["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("The uploaded file could not be read")
    assert manager_client.get(job.get_absolute_url()).status_code == 200


# ---- The upload view streams the file to storage


class Joined(io.RawIOBase):
    """Several readable files one after the other, read on demand."""

    def __init__(self, *parts: io.RawIOBase) -> None:
        self.parts = list(parts)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.parts:
            count = self.parts[0].readinto(buffer)
            if count:
                return count
            self.parts.pop(0)
        return 0


def test_the_upload_view_streams_a_40_mb_file_to_storage_without_holding_it(manager_client, settings):
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="feedback_type"\r\n\r\nreturn\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nEvent ID,Reason\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 40 * 1024 * 1024
    body = Joined(io.BytesIO(head), Endless(b"5af4b98aa8065fa3a79bf4b3,Wrong number\r\n", size=size), io.BytesIO(tail))
    environ = manager_client._base_environ(
        PATH_INFO=reverse("imports:upload_feedback"),
        REQUEST_METHOD="POST",
        CONTENT_TYPE=f"multipart/form-data; boundary={boundary}",
        CONTENT_LENGTH=str(len(head) + size + len(tail)),
        **{"wsgi.input": io.BufferedReader(body)},
    )
    tracemalloc.start()
    try:
        response = manager_client.handler(environ)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    job = ImportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert job.file.size == len("Event ID,Reason\r\n") + size
    assert peak < 8_000_000  # of a 40 MB upload
