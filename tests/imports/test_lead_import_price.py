"""The lead CSV's price column: guessed from its header (or the source's own name), read as Decimal cents."""

from decimal import Decimal

import pytest

from feedbackportal.imports import csv_reader, runner, services
from feedbackportal.imports.models import ImportKind, ImportStatus
from feedbackportal.leads.models import Lead, Source
from tests.conftest import new_event_id
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.django_db


def run_file(tmp_path, rows, *, source=None):
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes(rows))
    job = services.import_job_create(
        kind=ImportKind.LEADS,
        uploaded=None,
        name=path.name,
        source=source,
        column_mapping=csv_reader.guess_mapping(rows[0], source),
    )
    return runner.run_import(job, lambda: path.open("rb"))


@pytest.mark.parametrize("header", ["Price", "Cost", "Lead Cost", "lead_price"])
def test_the_price_column_is_guessed_from_its_header(header):
    assert csv_reader.guess_mapping(["Event ID", header])["price"] == header


def test_the_sources_own_price_parameter_is_guessed_first(db):
    source = Source.objects.create(name="S", slug="s", field_mapping={"price": "cpl"})
    assert csv_reader.guess_mapping(["Event ID", "Price", "CPL"], source)["price"] == "CPL"


def test_prices_import_as_decimal_and_a_bad_one_skips_its_row(tmp_path):
    priced, free, unknown, bad = (new_event_id() for _ in range(4))
    rows = [["Event ID", "Cost"], [priced, "$18.50"], [free, "0"], [unknown, ""], [bad, "call us"]]
    job = run_file(tmp_path, rows)
    assert (job.status, job.created_count, job.skipped_count) == (ImportStatus.DONE, 3, 1)
    prices = dict(Lead.objects.values_list("event_id", "price"))
    assert prices == {priced: Decimal("18.50"), free: Decimal("0.00"), unknown: None}
    assert "is not a price" in job.rows.get(event_id=bad).message


def test_an_update_sets_a_zero_price_and_a_blank_keeps_the_old_one(tmp_path, make_lead):
    zeroed, kept = make_lead(price=Decimal(9)), make_lead(price=Decimal(7))
    run_file(tmp_path, [["Event ID", "Price"], [zeroed.event_id, "0.00"], [kept.event_id, ""]])
    prices = dict(Lead.objects.values_list("event_id", "price"))
    assert prices == {zeroed.event_id: Decimal("0.00"), kept.event_id: Decimal("7.00")}
