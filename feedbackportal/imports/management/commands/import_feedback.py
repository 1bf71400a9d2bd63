"""Bulk feedback from LeadConduit's "Import Feedback" CSV, through the same service and outbox as agents."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from feedbackportal.feedback.models import FeedbackType
from feedbackportal.imports.management.commands._importing import checked_path, run_and_report, user_named
from feedbackportal.imports.models import ImportKind
from feedbackportal.imports.services import import_job_create


class Command(BaseCommand):
    help = (
        "Record one feedback per row of a CSV (an Event ID column, an optional reason column, header "
        "optional) and queue each for delivery by the worker. Prints every row's result and the totals."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--type", required=True, choices=FeedbackType.values, dest="feedback_type")
        parser.add_argument("--user", help="Username recorded as the agent of every feedback.")

    def handle(self, *, file: str, feedback_type: str, user: str | None, **options: Any) -> None:
        path = checked_path(file)
        job = import_job_create(
            kind=ImportKind.FEEDBACK,
            uploaded=None,
            name=path.name,
            user=user_named(user),
            feedback_type=feedback_type,
        )
        run_and_report(self, job, path, every_row=True)
        self.stdout.write("The delivery worker sends the created feedback to LeadConduit (manage.py run_worker).")
