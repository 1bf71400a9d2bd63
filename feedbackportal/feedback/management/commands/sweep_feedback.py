from django.core.management.base import BaseCommand

from feedbackportal.feedback.sweeper import sweep


class Command(BaseCommand):
    help = "Recover feedback whose delivery was interrupted (every run_worker also does this by itself)."

    def handle(self, **options) -> None:
        report = sweep()
        others = "".join(f", {name.replace('_', ' ')}: {count}" for name, count in report.others.items())
        self.stdout.write(
            f"unconfirmed: {report.unconfirmed}, queued again: {report.requeued}, re-enqueued: {report.reenqueued}"
            f"{others}"
        )
