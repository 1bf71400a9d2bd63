"""What the two import commands share: finding the user, running the job in-process, printing rows."""

from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError

from feedbackportal.imports.csv_reader import SNIFF_BYTES, ImportRefused, refuse_binary
from feedbackportal.imports.models import ImportJob, ImportStatus, RowResult
from feedbackportal.imports.runner import run_import


def checked_path(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"No such file: {path}")
    with file.open("rb") as binary:
        try:
            refuse_binary(binary.read(SNIFF_BYTES))
        except ImportRefused as exc:
            raise CommandError(exc.message) from None
    return file


def user_named(username: str | None) -> AbstractBaseUser | None:
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user {username!r}.")
    return user


def run_and_report(command: BaseCommand, job: ImportJob, file: Path, *, every_row: bool) -> None:
    job = run_import(job, lambda: file.open("rb"))
    for number, event_id, result, message, _ in _rows(job, every_row=every_row):
        line = f"row {number:>6}  {event_id or '-':<24}  {result:<8}  {message}".rstrip()
        command.stdout.write(command.style.WARNING(line) if result == RowResult.SKIPPED else line)
    command.stdout.write(
        f"{job.get_kind_display()} import #{job.pk}: {job.processed} rows, {job.created_count} created, "
        f"{job.updated_count} updated, {job.skipped_count} skipped."
    )
    if job.status != ImportStatus.DONE:
        raise CommandError(job.error or "The import did not finish.")


def _rows(job: ImportJob, *, every_row: bool) -> Iterator[tuple[int, str, str, str, int | None]]:
    rows = job.rows.order_by("row_number")
    if not every_row:
        rows = rows.filter(result=RowResult.SKIPPED)
    return rows.values_list("row_number", "event_id", "result", "message", "feedback_id").iterator(chunk_size=2000)
