"""The history as CSV: the filters apply, a spreadsheet opens it cleanly, nothing in it runs, memory stays flat."""

import csv
import io
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.leads.models import Lead
from feedbackportal.reports.export import COLUMNS
from feedbackportal.spreadsheet import safe_cell
from tests.reports.conftest import at

URL = reverse("reports:export")


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def test_it_streams_a_csv_attachment_with_a_header_row(manager_client, add_feedback, agent):
    feedback = add_feedback(
        created_at=at("2026-03-02 10:15"), answered_at=at("2026-03-02 10:16"), agent=agent, note="Called twice"
    )

    response = manager_client.get(URL)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="feedback-history-')
    [row] = read_csv(response)
    assert list(row) == [name for name, _ in COLUMNS]
    lead = feedback.lead
    assert row == {
        "feedback_id": str(feedback.pk),
        "submitted_at": "2026-03-02T10:15:00+00:00",
        "type": "Return",
        "reason": "Wrong number",
        "status": "Accepted",
        "leadconduit_outcome": "success",
        "leadconduit_reason": "",
        "answered_at": "2026-03-02T10:16:00+00:00",
        "attempts": "0",
        "agent": "agent1",
        "event_id": lead.event_id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "source": "",
        "lead_received_at": timezone.localtime(lead.received_at).isoformat(timespec="seconds"),
        "lead_price": "",
        "note": "Called twice",
    }


def test_it_exports_the_leads_price_as_plain_decimal_text(manager_client, add_feedback, make_lead):
    add_feedback("return", lead=make_lead(price=Decimal("12.5")))
    add_feedback("return", lead=make_lead(price=Decimal("0")))
    prices = sorted(row["lead_price"] for row in read_csv(manager_client.get(URL)))
    assert prices == ["0.00", "12.50"]


def test_it_exports_only_what_the_filters_select(manager_client, add_feedback):
    wanted = add_feedback("conversion", created_at=at("2026-03-02 10:00"))
    add_feedback("return", created_at=at("2026-03-02 10:00"))
    add_feedback("conversion", created_at=at("2026-02-02 10:00"))

    rows = read_csv(manager_client.get(URL, {"type": "conversion", "created_from": "2026-03-01", "page": "3"}))

    assert [row["feedback_id"] for row in rows] == [str(wanted.pk)]


def test_an_empty_export_still_has_its_header(manager_client):
    body = b"".join(manager_client.get(URL, {"type": "return"}).streaming_content).decode()
    assert body == "\ufeff" + ",".join(name for name, _ in COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1 512 555 0100", "'+1 512 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Joe", "Joe"),
        ("O'Brien = fine", "O'Brien = fine"),
        ("", ""),
    ],
)
def test_a_cell_that_would_run_as_a_formula_is_defused(value, cell):
    assert safe_cell(value) == cell


def test_hostile_lead_data_arrives_as_text(manager_client, make_lead, add_feedback):
    lead = make_lead(first_name="=cmd|'/C calc'!A0", last_name="@Ñandú, «Zoë»", phone="+1 (512) 555-0100")
    add_feedback(lead=lead, note='line one\n"quoted", line two')

    [row] = read_csv(manager_client.get(URL))

    assert row["first_name"] == "'=cmd|'/C calc'!A0"
    assert row["last_name"] == "'@Ñandú, «Zoë»"
    assert row["phone"] == "'+1 (512) 555-0100"
    assert row["note"] == 'line one\n"quoted", line two'


def test_agents_cannot_export(agent_client):
    assert agent_client.get(URL).status_code == 403


def insert_feedback_rows(lead: Lead, count: int) -> None:
    """Insert that many (not live) returns for one lead in one statement: a database-side loop is fast."""
    uuid = "gen_random_uuid()" if connection.vendor == "postgresql" else "lower(hex(randomblob(16)))"
    now = connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(days=1))
    table = Feedback._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < %s)
            INSERT INTO {table} (lead_id, feedback_type, reason_text, note, idempotency_key, status, status_message,
                                 outcome, outcome_reason, attempt_count, attempts_before_resend, task_id,
                                 created_at, updated_at)
            SELECT %s, 'return', 'Wrong number', '', {uuid},
                   CASE n %% 4 WHEN 0 THEN 'rejected' WHEN 1 THEN 'error' WHEN 2 THEN 'failed' ELSE 'cancelled' END,
                   '', CASE n %% 4 WHEN 0 THEN 'failure' ELSE '' END,
                   CASE n %% 4 WHEN 0 THEN 'Must provide return within 7 days' ELSE '' END,
                   1, 0, '', %s, %s
            FROM numbers
            """,
            [count, lead.pk, now, now],
        )


def test_a_hundred_thousand_rows_stream_in_bounded_memory(manager_client, make_lead):
    rows = 100_000
    insert_feedback_rows(make_lead(), rows)
    assert Feedback.objects.count() == rows

    started = time.perf_counter()
    tracemalloc.start()
    try:
        response = manager_client.get(URL)
        size = lines = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert lines == rows + 1
    mib = 2**20
    print(f"\nCSV export: {rows:,} rows, {size / mib:.1f} MiB in {elapsed:.1f} s, peak traced {peak / mib:.1f} MiB")
    # The file is ~15 MiB, and 100,000 model rows held at once would take several times that;
    # streaming in chunks of 2,000 keeps the peak to a few MiB whatever the row count.
    assert size > 12 * 2**20
    assert peak < 8 * 2**20


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL cursors")
def test_the_export_reads_through_a_cursor_that_streams_not_one_held_past_its_transaction(
    transactional_db, add_feedback
):
    # Outside a transaction Django declares the cursor WITH HOLD, and PostgreSQL computes every row
    # before handing over the first: 42 s for a million, past gunicorn's 30 s timeout.
    from feedbackportal.reports.export import history_rows

    for _ in range(3):
        add_feedback()
    rows = history_rows(Feedback.objects.all())
    next(rows), next(rows)  # the header, then the first row: the cursor is open
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors")
        holdable = [row[0] for row in cursor.fetchall()]
    assert holdable == [False]
    assert len(list(rows)) == 2


def test_the_download_is_written_in_pieces_of_about_64_kib_not_line_by_line(manager_client, add_feedback):
    for _ in range(400):
        add_feedback(note="x" * 300)

    response = manager_client.get(URL)
    pieces = list(response.streaming_content)

    assert len(pieces) < 10
    assert all(len(piece) >= 64 * 1024 for piece in pieces[:-1])
    assert len(list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8-sig"))))) == 401


def test_times_are_in_the_portals_zone_which_is_looked_up_once_per_export_not_per_cell(
    manager_client, add_feedback, make_lead
):
    # Looking the zone up for each of three timestamps in each of a million rows was a third of the export's time.
    for n in range(3):
        add_feedback(
            lead=make_lead(received_at=at("2026-03-01 23:30")),
            created_at=at("2026-03-02 10:15") + timedelta(minutes=n),
            answered_at=at("2026-03-02 10:16"),
        )

    with (
        timezone.override("America/Chicago"),
        mock.patch("django.utils.timezone.get_current_timezone", wraps=timezone.get_current_timezone) as lookups,
    ):
        rows = read_csv(manager_client.get(URL))

    assert [row["submitted_at"] for row in rows] == [f"2026-03-02T04:1{n}:00-06:00" for n in (7, 6, 5)]
    assert {row["answered_at"] for row in rows} == {"2026-03-02T04:16:00-06:00"}
    assert {row["lead_received_at"] for row in rows} == {"2026-03-01T17:30:00-06:00"}
    assert lookups.call_count <= 2  # the file name's stamp, and the rows' one
