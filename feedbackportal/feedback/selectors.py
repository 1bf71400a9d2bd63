"""Reads for the lead page's feedback panel and the managers' resolution pages."""

from dataclasses import dataclass

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
from feedbackportal.leads.models import Lead, SourceReasonWording


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


@dataclass(frozen=True)
class ReasonChoice:
    """One reason in the agents' picker, with the words LeadConduit will receive for this lead."""

    reason: Reason
    sends: str

    @property
    def shows_wording(self) -> bool:
        """The agent's label is not what is sent (the catalog's text, or the seller's own wording)."""
        return self.sends.strip().casefold() != self.reason.label.strip().casefold()


def reason_groups(*, lead: Lead | None = None, live: dict[str, Feedback] | None = None) -> list[dict]:
    """The picker's reasons per feedback type, in catalog order, each with its digit key and the text
    sent for this lead (its source's wording where it has one); ``live`` the type's live feedback."""
    reasons = Reason.objects.active()
    if lead is not None and lead.source_id is not None:
        # In the same query: the lead page's query count does not depend on the source.
        wording = SourceReasonWording.objects.filter(source_id=lead.source_id, reason=OuterRef("pk")).values("text")
        reasons = reasons.annotate(source_wording=Subquery(wording[:1]))
    choices = [
        ReasonChoice(reason=reason, sends=(getattr(reason, "source_wording", None) or "").strip() or reason.text)
        for reason in reasons
    ]
    return [
        {
            "type": value,
            "label": label,
            "choices": [choice for choice in choices if choice.reason.feedback_type == value],
            "live": (live or {}).get(value),
        }
        for value, label in FeedbackType.choices
    ]


# The lead page lists this many possible duplicates of a lead (and says when there are more).
DUPLICATES_SHOWN = 10


def feedback_panel(lead: Lead, *, form: FeedbackForm | None = None, just_sent: Feedback | None = None) -> dict:
    """Everything the lead page shows below the lead: history, reasons by type, and the form.

    A type with a live feedback shows as a summary instead of its reasons, so the form opens on the
    other type; ``just_sent`` is the row focus moves to after a submit. Possible duplicates of the
    lead are listed, and make the catalog's duplicate reason *suggested*.
    """
    duplicates = list(Lead.objects.duplicates_of(lead)[: DUPLICATES_SHOWN + 1])
    feedbacks = list(feedback_with_attempts().filter(lead=lead).order_by("-created_at", "-id"))
    live = {fb.feedback_type: fb for fb in feedbacks if fb.status in LIVE_STATUSES}
    groups = reason_groups(lead=lead, live=live)
    open_types = [group["type"] for group in groups if group["live"] is None]
    if form is None:
        # Return is the agents' default; a conversion left open beside a live return is offered but
        # never chosen for them, so a return's digit and Enter cannot send a conversion by habit.
        form = FeedbackForm(initial={"feedback_type": FeedbackType.RETURN} if FeedbackType.RETURN in open_types else {})
    return {
        "lead": lead,
        "feedbacks": feedbacks,
        "form": form,
        "return_cap": cap_use_for(lead.source),
        "reason_groups": groups,
        "open_types": open_types,
        "just_sent": just_sent,
        "duplicates": duplicates[:DUPLICATES_SHOWN],
        "more_duplicates": len(duplicates) > DUPLICATES_SHOWN,
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
        error=Count("status", filter=Q(status=Status.ERROR)),
    )
    return counts | {"all": counts["unconfirmed"] + counts["failed"] + counts["error"]}


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
