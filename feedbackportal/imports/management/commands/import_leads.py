"""Import leads from a CSV file on this machine, in this process (for files too large to upload)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from feedbackportal.imports.csv_reader import IMPORT_FIELDS, ImportRefused, csv_preview, guess_mapping
from feedbackportal.imports.management.commands._importing import checked_path, run_and_report, user_named
from feedbackportal.imports.models import ImportKind
from feedbackportal.imports.services import import_job_create
from feedbackportal.leads.models import Source


class Command(BaseCommand):
    help = (
        "Import leads from a CSV with a header row. Columns are matched by name (event_id, Event ID, "
        "first_name, Phone 1, …); --map field=Column overrides. Prints the skipped rows with their reason "
        "(every row with -v 2) and the totals."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--source", help="Slug of the source the new leads belong to.")
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN")
        parser.add_argument("--user", help="Username recorded as the importer.")

    def handle(self, *, file: str, source: str | None, map: list[str], user: str | None, **options: Any) -> None:
        path = checked_path(file)
        chosen = None
        if source:
            chosen = Source.objects.filter(slug=source).first()
            if chosen is None:
                raise CommandError(f"No source with slug {source!r}.")
        try:
            header, _ = csv_preview(lambda: path.open("rb"))
        except ImportRefused as exc:
            raise CommandError(exc.message) from None
        mapping = guess_mapping(header, chosen)
        for item in map:
            field, _, column = item.partition("=")
            if field not in IMPORT_FIELDS:
                raise CommandError(f"Unknown field {field!r}; known: {', '.join(IMPORT_FIELDS)}.")
            if column and column not in header:
                raise CommandError(f"The file has no column {column!r}.")
            mapping[field] = column
        mapping = {field: column for field, column in mapping.items() if column}
        if "event_id" not in mapping:
            raise CommandError("No column holds the event id; name it with --map event_id=COLUMN.")
        self.stdout.write("Columns: " + ", ".join(f"{field} ← {column!r}" for field, column in mapping.items()))
        job = import_job_create(
            kind=ImportKind.LEADS,
            uploaded=None,
            name=path.name,
            user=user_named(user),
            source=chosen,
            column_mapping=mapping,
        )
        run_and_report(self, job, path, every_row=options["verbosity"] >= 2)
