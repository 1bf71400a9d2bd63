import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from feedbackportal.leads.models import Source


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="HomeShield", slug="homeshield", return_window_days=30)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def upload(rows: list[list[str]], name: str = "leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, csv_bytes(rows), content_type="text/csv")
