from collections.abc import Callable
from datetime import datetime

import pytest
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.leads.models import Lead


def at(text: str) -> datetime:
    """An aware datetime in the portal's time zone from "2026-03-02 10:00"."""
    return timezone.make_aware(datetime.fromisoformat(text))


@pytest.fixture
def add_feedback(make_lead) -> Callable[..., Feedback]:
    """A feedback in any state, with its lead made on the fly (status accepted unless said)."""

    def add(
        feedback_type: str = FeedbackType.RETURN,
        *,
        lead: Lead | None = None,
        reason: Reason | None = None,
        status: str = Status.ACCEPTED,
        created_at: datetime | None = None,
        received_at: datetime | None = None,
        **fields,
    ) -> Feedback:
        if lead is None:
            lead = make_lead(**({"received_at": received_at} if received_at else {}))
        if reason is None:
            reason = Reason.objects.filter(feedback_type=feedback_type).order_by("position").first()
        outcome = {Status.ACCEPTED.value: "success", Status.REJECTED.value: "failure"}.get(status, "")
        defaults = {"outcome": outcome, "created_at": created_at or timezone.now()}
        return Feedback.objects.create(
            lead=lead,
            feedback_type=feedback_type,
            reason=reason,
            reason_text=reason.text if reason else "",
            status=status,
            **(defaults | fields),
        )

    return add
