"""CSV files people open in a spreadsheet: streamed, UTF-8 with a BOM, and no cell that runs as a formula."""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.http import StreamingHttpResponse
from django.utils import timezone

BOM = "\ufeff"  # Excel reads UTF-8 only with it
# A cell starting with one of these is a formula to a spreadsheet (or the start of one, after a tab/CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer's file: hands each written line straight back."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: object) -> str:
    """A cell's text, ISO dates in local time, with a ' before anything a spreadsheet would run."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The rows (header first) as CSV lines, every cell made safe; the first line carries the BOM."""
    writer = csv.writer(_Echo())
    prefix = BOM
    for row in rows:
        yield prefix + writer.writerow([safe_cell(cell) for cell in row])
        prefix = ""


CHUNK_BYTES = 64 * 1024


def in_chunks(lines: Iterable[str], size: int = CHUNK_BYTES) -> Iterator[str]:
    """The lines joined into pieces of about `size` characters: one socket write per piece, not per row."""
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer)


def csv_download(rows: Iterable[Iterable[object]], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(in_chunks(csv_lines(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
