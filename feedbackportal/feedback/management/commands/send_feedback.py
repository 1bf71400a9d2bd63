import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from feedbackportal.feedback.models import FeedbackType, Reason, Status
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback_for_event
from feedbackportal.feedback.tasks import deliver_now


class Command(BaseCommand):
    help = (
        "Record one feedback through the portal's service and deliver it to LeadConduit in-process. "
        "Exits 0 only when LeadConduit accepted it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("event_id", help="The LeadConduit event id (24 hex characters).")
        parser.add_argument("--type", dest="feedback_type", choices=FeedbackType.values, required=True)
        parser.add_argument("--reason", default="", help="A catalog reason, by its label or the text it sends.")
        parser.add_argument("--note", default="")
        parser.add_argument(
            "--wait", type=float, default=30.0, help="Seconds to wait for a worker that is retrying it (default 30)."
        )

    def handle(self, *, event_id: str, feedback_type: str, reason: str, note: str, wait: float, **options) -> None:
        catalog_reason = self._reason(feedback_type, reason)
        try:
            feedback = submit_feedback_for_event(
                event_id=event_id,
                feedback_type=feedback_type,
                reason=catalog_reason,
                note=note,
                idempotency_key=uuid.uuid4(),
                undo_seconds=0,  # whoever types the command has decided; it delivers right here
            )
        except FeedbackRefused as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Recorded feedback {feedback.pk} ({feedback_type}); sending…")
        deliver_now(feedback.pk)
        deadline = time.monotonic() + wait
        feedback.refresh_from_db()
        while feedback.is_pending and time.monotonic() < deadline:
            time.sleep(0.5)
            feedback.refresh_from_db()

        self.stdout.write(f"Status: {feedback.get_status_display()}")
        if feedback.outcome_reason:
            self.stdout.write(f"LeadConduit's reason: {feedback.outcome_reason}")
        self.stdout.write(feedback.agent_message)
        if feedback.status != Status.ACCEPTED:
            raise CommandError(f"LeadConduit did not accept feedback {feedback.pk} ({feedback.status}).", returncode=1)

    def _reason(self, feedback_type: str, wanted: str) -> Reason | None:
        if not wanted:
            return None
        reasons = Reason.objects.active().for_type(feedback_type)
        match = reasons.filter(Q(label__iexact=wanted) | Q(text__iexact=wanted)).first()
        if match is None:
            known = ", ".join(f'"{reason.label}"' for reason in reasons) or "none"
            raise CommandError(f'"{wanted}" is not an active {feedback_type} reason. Active ones: {known}.')
        return match
