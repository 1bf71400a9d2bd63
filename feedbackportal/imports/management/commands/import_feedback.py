"""Bulk feedback from LeadConduit's "Import Feedback" CSV, through the same service and outbox as agents."""

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from feedbackportal.feedback.models import FeedbackType
from feedbackportal.imports.feedback_preview import FeedbackPreview
from feedbackportal.imports.management.commands._importing import checked_path, run_and_report, user_named
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.runner import run_import
from feedbackportal.imports.services import import_job_cancel, import_job_confirm, import_job_create


class Command(BaseCommand):
    help = (
        "Preview, then record one feedback per row of a CSV (an Event ID column, an optional reason "
        "column, header optional) and queue each for delivery by the worker. Prints the preview and asks "
        "before sending anything (--yes sends without asking; without a terminal and without --yes nothing "
        "is sent), then every row's result and the totals."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--type", required=True, choices=FeedbackType.values, dest="feedback_type")
        parser.add_argument("--user", help="Username recorded as the agent of every feedback.")
        parser.add_argument("--yes", action="store_true", help="Send after printing the preview, without asking.")

    def handle(self, *, file: str, feedback_type: str, user: str | None, yes: bool, **options: Any) -> None:
        path = checked_path(file)
        agent = user_named(user)
        job = import_job_create(
            kind=ImportKind.FEEDBACK, uploaded=None, name=path.name, user=agent, feedback_type=feedback_type
        )
        job = run_import(job, lambda: path.open("rb"))  # the preview: nothing is sent
        if job.status != ImportStatus.CONFIRM:
            raise CommandError(job.error or "The file could not be previewed.")
        self._print_preview(job)
        confirmed = False
        try:
            confirmed = yes or self._asked(job)
        finally:
            if not confirmed:
                import_job_cancel(job=job, user=agent)
        if not confirmed:
            raise CommandError("Nothing was sent. Answer y, or run again with --yes, to send.")
        import_job_confirm(job=job, user=agent, run_in_worker=False)
        run_and_report(self, job, path, every_row=True)
        self.stdout.write("The delivery worker sends the created feedback to LeadConduit (manage.py run_worker).")

    def _print_preview(self, job: ImportJob) -> None:
        preview = FeedbackPreview.of(job)
        self.stdout.write(f"Preview of bulk feedback import #{job.pk} ({job.original_name}), {job.feedback_type}s:")
        self.stdout.write(f"  {preview.rows:>7}  rows in the file")
        self.stdout.write(f"  {preview.matched:>7}  rows naming a lead the portal has")
        self.stdout.write(self.style.SUCCESS(f"  {preview.send:>7}  will be sent to LeadConduit (one call each)"))
        for item in preview.not_sent():
            if item.count:
                self.stdout.write(self.style.WARNING(f"  {item.count:>7}  not sent: {item.label.lower()}"))
                for number, event_id, message in item.examples:
                    self.stdout.write(f"           row {number} {event_id or '-'}: {message}")
        if preview.reasons:
            reasons = ", ".join(f"{label} {count}" for label, count in preview.reasons_by_count())
            self.stdout.write(f"  Reasons sent: {reasons}")
        if preview.unknown_reasons:
            unknown = ", ".join(f"“{text}” {count} times" for text, count in preview.unknown_reasons_by_count())
            self.stdout.write(f"  Unknown reasons: {unknown}")

    def _asked(self, job: ImportJob) -> bool:
        if not sys.stdin.isatty():
            return False
        send = FeedbackPreview.of(job).send
        answer = input(f"Send {send} {job.feedback_type}{'' if send == 1 else 's'} to LeadConduit? [y/N] ")
        return answer.strip().lower() in ("y", "yes")
