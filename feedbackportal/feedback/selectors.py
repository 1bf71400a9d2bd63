"""Reads for the lead page's feedback panel."""

from django.db.models import Count

from feedbackportal.feedback.forms import FeedbackForm
from feedbackportal.feedback.models import LIVE_STATUSES, Feedback, FeedbackType, Reason
from feedbackportal.leads.models import Lead


def feedback_with_attempts():
    return Feedback.objects.select_related("agent").annotate(attempt_total=Count("attempts"))


def feedback_panel(lead: Lead, *, form: FeedbackForm | None = None) -> dict:
    """Everything the lead page shows below the lead: history, reasons by type, and the form."""
    feedbacks = list(feedback_with_attempts().filter(lead=lead).order_by("-created_at", "-id"))
    reasons = list(Reason.objects.active())
    live = {fb.feedback_type: fb for fb in feedbacks if fb.status in LIVE_STATUSES}
    return {
        "lead": lead,
        "feedbacks": feedbacks,
        "form": form or FeedbackForm(),
        "reason_groups": [
            {
                "type": value,
                "label": label,
                "reasons": [reason for reason in reasons if reason.feedback_type == value],
                "live": live.get(value),
            }
            for value, label in FeedbackType.choices
        ],
    }
