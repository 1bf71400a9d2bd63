"""Reading an uploaded CSV: rows streamed from the file, the preview, and guessing the column mapping."""

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from django.conf import settings

from feedbackportal.imports.models import ImportKind
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import clean_text
from feedbackportal.leads.models import DEFAULT_FIELD_MAPPING, Source

PREVIEW_ROWS = 5
# Lead fields a CSV may fill: what a delivery carries, plus when the lead arrived and a source name.
IMPORT_FIELDS = [*DEFAULT_FIELD_MAPPING, "received_at", "source_name", "price"]
FIELD_LABELS = {
    "event_id": "Event id (required)",
    "leadconduit_id": "LeadConduit lead id",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "address": "Address",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "received_at": "Received at (date)",
    "source_name": "Source name",
    "price": "Price (what the lead cost)",
}
# Header spellings seen in CRM and LeadConduit exports, compared without case, spaces or punctuation.
COLUMN_ALIASES = {
    "event_id": ["eventid", "leadconduiteventid", "event"],
    "leadconduit_id": ["leadid", "leadconduitid", "leadconduitleadid"],
    "first_name": ["firstname", "first", "givenname"],
    "last_name": ["lastname", "last", "surname", "familyname"],
    "email": ["email", "emailaddress"],
    "phone": ["phone", "phone1", "phonenumber", "mobile", "homephone", "primaryphone"],
    "address": ["address", "address1", "street", "streetaddress"],
    "city": ["city"],
    "state": ["state", "region"],
    "postal_code": ["postalcode", "zip", "zipcode", "postcode"],
    "received_at": ["receivedat", "submissiontimestamp", "timestamp", "createdat", "received", "date"],
    "source_name": ["source", "sourcename"],
    "price": ["price", "cost", "leadprice", "leadcost", "amount"],
}

OpenBinary = Callable[[], IO[bytes]]

SNIFF_BYTES = 1024  # what an upload's check for binary data reads of it
# The first bytes of files people upload by mistake for a CSV (what `file` would say).
BINARY_SIGNATURES = [
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"PK\x05\x06", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Excel .xls workbook (or another Office file)"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
]
SAVE_AS_CSV = "Save the data as CSV (UTF-8) and upload that."
# Undecodable bytes and control characters a text file may have by accident (a Latin-1 accent, a
# stray control character) before it counts as binary, as a share of the characters sniffed.
MAX_NON_TEXT_SHARE = 0.1


class ImportRefused(Exception):
    """The file cannot be imported at all (not just some rows); the message is for the manager."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def refuse_binary(head: bytes) -> None:
    """Raise ImportRefused when a file's first bytes show it is not CSV text (a workbook, an image…).

    A NUL byte, or more than MAX_NON_TEXT_SHARE undecodable bytes and control characters, is binary.
    """
    for signature, what in BINARY_SIGNATURES:
        if head.startswith(signature):
            raise ImportRefused(f"This is {what}, not a CSV file. {SAVE_AS_CSV}")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportRefused(f"This file is UTF-16 text. {SAVE_AS_CSV}")
    text = head.decode("utf-8", errors="replace")
    non_text = sum(1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\n\r\f\v"))
    if "\x00" in text or non_text > MAX_NON_TEXT_SHARE * len(text):
        raise ImportRefused(f"This file is not text (it holds binary data), so it is not a CSV file. {SAVE_AS_CSV}")


@contextmanager
def text_rows(open_binary: OpenBinary) -> Iterator[Iterator[list[str]]]:
    """CSV rows from a binary file, decoded as UTF-8 (a BOM is skipped; undecodable bytes become �).

    Blank lines are left out, so row numbers count the rows that have something in them. Raises
    ImportRefused (while iterating) at a row wider than IMPORT_MAX_COLUMNS or longer than
    IMPORT_MAX_ROW_CHARS: such a row is never held in memory whole.
    """
    with open_binary() as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield _checked_rows(text)
        finally:
            text.detach()


def _checked_rows(text: IO[str]) -> Iterator[list[str]]:
    max_columns, max_chars = settings.IMPORT_MAX_COLUMNS, settings.IMPORT_MAX_ROW_CHARS
    for row in csv.reader(_bounded_lines(text, max_chars)):
        if len(row) > max_columns:
            raise ImportRefused(
                f"A row has {len(row):,} columns; an import takes at most {max_columns:,} (IMPORT_MAX_COLUMNS)."
            )
        if row:
            yield row


def _bounded_lines(text: IO[str], max_chars: int) -> Iterator[str]:
    # readline with a limit: a file that is one enormous line is refused after max_chars characters
    # instead of being read whole (the csv module would otherwise build it in memory).
    while line := text.readline(max_chars + 1):
        if len(line) > max_chars:
            raise ImportRefused(
                f"A line of the file is over {max_chars:,} characters (IMPORT_MAX_ROW_CHARS); "
                "this is not a CSV file we can import."
            )
        yield line


def csv_preview(open_binary: OpenBinary, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The header and the first few data rows, read without loading the file.

    Reads at most the first rows + 1 lines, each capped (see text_rows). Raises ImportRefused for
    an empty, unreadable (or missing), too wide or too long file; the message is for the manager.
    """
    try:
        with text_rows(open_binary) as reader:
            header = next(reader, [])
            sample = [row for _, row in zip(range(rows), reader, strict=False)]
    except csv.Error as exc:
        raise ImportRefused(f"This is not a CSV file we can read: {exc}") from None
    except OSError as exc:  # e.g. the stored file is gone: the job fails with this, never a 500
        raise ImportRefused(f"The uploaded file could not be read: {exc.strerror or exc}") from None
    if not header:
        raise ImportRefused("The file is empty.")
    return [clean_text(name).strip() for name in header], sample


def guess_mapping(header: list[str], source: Source | None = None) -> dict[str, str]:
    """Lead field → the header column that most likely holds it."""
    by_key: dict[str, str] = {}
    for name in header:
        by_key.setdefault(column_key(name), name)
    mapping = {}
    for field in IMPORT_FIELDS:
        candidates = [field, *COLUMN_ALIASES.get(field, [])]
        if field in DEFAULT_FIELD_MAPPING:
            candidates.insert(0, (source.mapping if source else DEFAULT_FIELD_MAPPING)[field])
        elif field == "price" and source is not None:
            candidates.insert(0, source.price_parameter)  # what the source calls it in deliveries, e.g. cost
        for candidate in candidates:
            if column_key(candidate) in by_key:
                mapping[field] = by_key[column_key(candidate)]
                break
    return mapping


def column_key(name: str) -> str:
    """A header name compared without case, spaces or punctuation."""
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def is_header(kind: str, row: list[str]) -> bool:
    # Mapped files (leads, LeadConduit's export) always have a header; LeadConduit's feedback file may not.
    return kind != ImportKind.FEEDBACK or not is_event_id(row[0].strip())
