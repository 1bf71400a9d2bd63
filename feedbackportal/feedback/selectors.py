"""Reads for the lead page's feedback panel and the managers' resolution pages."""

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from feedbackportal.feedback.caps import cap_use_for
from feedbackportal.feedback.forms import FeedbackForm
from feedbackportal.feedback.models import (
    LIVE_STATUSES,
    DeliveryAttempt,
    Feedback,
    FeedbackType,
    Reason,
    Status,
)
from feedbackportal.leads.models import Lead


def attempt_total() -> Coalesce:
    """How many delivery attempts a feedback row has, counted per row (a correlated subquery):
    Count("attempts") would group the whole filtered table before the page is cut (1.9 s for a
    60,000-row queue)."""
    per_feedback = (
        DeliveryAttempt.objects.filter(feedback=OuterRef("pk"))
        .order_by()
        .values("feedback")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(per_feedback[:1]), 0)


def feedback_with_attempts() -> QuerySet[Feedback]:
    return Feedback.objects.select_related("agent").annotate(attempt_total=attempt_total())


def feedback_panel(lead: Lead, *, form: FeedbackForm | None = None) -> dict:
    """Everything the lead page shows below the lead: history, reasons by type, and the form."""
    feedbacks = list(feedback_with_attempts().filter(lead=lead).order_by("-created_at", "-id"))
    reasons = list(Reason.objects.active())
    live = {fb.feedback_type: fb for fb in feedbacks if fb.status in LIVE_STATUSES}
    return {
        "lead": lead,
        "feedbacks": feedbacks,
        "form": form or FeedbackForm(),
        "return_cap": cap_use_for(lead.source),
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


# The badge on every manager page counts at most this many and then says "999+": the count stays a
# short index read however long the queue grows (a full count read 62,500 rows at 1M feedbacks).
ATTENTION_BADGE_CAP = 999


def needs_attention_count() -> int:
    """How many feedbacks wait for a manager, counted up to ATTENTION_BADGE_CAP + 1 (more than the cap)."""
    return Feedback.objects.needs_attention().order_by()[: ATTENTION_BADGE_CAP + 1].count()


def needs_attention_counts() -> dict[str, int]:
    """How many feedbacks wait for a manager, per queue filter, in one query."""
    # Counting the status, not the id: only the status is read, so the status index answers alone.
    counts = Feedback.objects.needs_attention().aggregate(
        unconfirmed=Count("status", filter=Q(status=Status.UNCONFIRMED)),
        failed=Count("status", filter=Q(status=Status.FAILED)),
    )
    return counts | {"all": counts["unconfirmed"] + counts["failed"]}


def attention_queue() -> QuerySet[Feedback]:
    """Feedback waiting for a manager, oldest first, with what one queue row shows."""
    last_attempt = DeliveryAttempt.objects.filter(feedback=OuterRef("pk")).order_by("-number")
    return (
        Feedback.objects.needs_attention()
        .select_related("lead", "agent")
        .annotate(attempt_total=attempt_total(), last_error=Subquery(last_attempt.values("error")[:1]))
        .order_by("created_at", "id")
    )


def feedback_for_resolution(pk: int) -> tuple[Feedback, list[DeliveryAttempt], list]:
    """A feedback with its lead and agent, every delivery attempt and every manager action, in order.

    Raises Feedback.DoesNotExist.
    """
    feedback = Feedback.objects.select_related("lead", "agent", "reason").get(pk=pk)
    attempts = list(feedback.attempts.order_by("number"))
    actions = list(feedback.actions.select_related("actor").order_by("created_at", "id"))
    return feedback, attempts, actions
