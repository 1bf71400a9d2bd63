"""Reads for the agent's desk: leads with what happened to them, and the agent's recent work."""

from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When

from feedbackportal.feedback.models import LIVE_STATUSES, Feedback, FeedbackType
from feedbackportal.leads.models import LeadQuerySet


def feedback_state(feedback_type: str) -> Subquery:
    """The status of a lead's feedback of one type that says what happened: its live one, else its newest."""
    state = (
        Feedback.objects.filter(lead=OuterRef("pk"), feedback_type=feedback_type)
        .annotate(
            finished=Case(When(status__in=LIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("finished", "-created_at", "-id")
        .values("status")[:1]
    )
    return Subquery(state)


def with_feedback_states(leads: LeadQuerySet) -> LeadQuerySet:
    """Each lead with `return_status` and `conversion_status` (None when it has no feedback of that type).

    Correlated subqueries through the feedback's lead index: PostgreSQL evaluates them after the
    sort and limit of a search, for the rows shown only.
    """
    return leads.annotate(
        return_status=feedback_state(FeedbackType.RETURN), conversion_status=feedback_state(FeedbackType.CONVERSION)
    )
