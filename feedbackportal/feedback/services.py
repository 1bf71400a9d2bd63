"""Writes for feedback. The web side only records and enqueues; it never talks to LeadConduit."""

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason
from feedbackportal.feedback.tasks import deliver
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead


class FeedbackRefused(Exception):
    """The feedback cannot be recorded as given; the message is for the agent."""

    def __init__(self, message: str, *, existing: Feedback | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.existing = existing


def submit_feedback(
    *,
    lead: Lead,
    feedback_type: str,
    reason: Reason | None,
    note: str = "",
    agent: AbstractBaseUser | None = None,
    idempotency_key: uuid.UUID | None = None,
) -> Feedback:
    """Record a feedback and enqueue its delivery, both in one transaction.

    A repeated idempotency key returns the feedback first recorded under it. Raises
    FeedbackRefused when the reason does not fit, or when a live feedback of the same type
    already exists for the lead (``existing`` then holds it).
    """
    if idempotency_key is not None:
        earlier = Feedback.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    reason_text = _checked_reason_text(feedback_type, reason)
    try:
        with transaction.atomic():
            feedback = Feedback.objects.create(
                lead=lead,
                feedback_type=feedback_type,
                reason=reason,
                reason_text=reason_text,
                note=note.strip(),
                agent=agent,
                idempotency_key=idempotency_key or uuid.uuid4(),
            )
            feedback.task_id = str(deliver.enqueue(feedback.pk).id)
            feedback.save(update_fields=["task_id"])
    except IntegrityError:
        if idempotency_key is not None:
            earlier = Feedback.objects.filter(idempotency_key=idempotency_key).first()
            if earlier is not None:
                return earlier
        live = Feedback.objects.live().filter(lead=lead, feedback_type=feedback_type).first()
        if live is None:
            raise
        raise _already_live(live) from None
    return feedback


def submit_feedback_for_event(*, event_id: str, **kwargs) -> Feedback:
    """Give feedback on an event id the portal may not know yet.

    An unknown event gets a placeholder lead that LeadConduit's reply fills in.
    """
    event_id = event_id.strip().lower()
    if not is_event_id(event_id):
        raise FeedbackRefused("An event id is 24 characters, 0-9 and a-f.")
    with transaction.atomic():
        lead, _ = Lead.objects.get_or_create(event_id=event_id)
        return submit_feedback(lead=lead, **kwargs)


def _checked_reason_text(feedback_type: str, reason: Reason | None) -> str:
    if feedback_type not in FeedbackType.values:
        raise FeedbackRefused("Choose Return or Conversion.")
    if reason is None:
        if feedback_type == FeedbackType.RETURN:
            raise FeedbackRefused("Choose a reason for the return.")
        return ""
    # The caller's instance may be stale (a form loaded before an admin deactivated or reworded it):
    # what is checked and copied is what the catalog says now.
    try:
        reason.refresh_from_db(fields=["feedback_type", "label", "text", "active"])
    except Reason.DoesNotExist:
        raise FeedbackRefused(f"“{reason.label}” is no longer in use; choose another reason.") from None
    if reason.feedback_type != feedback_type:
        raise FeedbackRefused(f"“{reason.label}” is not a {feedback_type} reason.")
    if not reason.active:
        raise FeedbackRefused(f"“{reason.label}” is no longer in use; choose another reason.")
    return reason.text


def _already_live(live: Feedback) -> FeedbackRefused:
    kind = live.get_feedback_type_display().lower()
    return FeedbackRefused(
        f"This lead already has a {kind} ({live.get_status_display().lower()}); it was not sent again.",
        existing=live,
    )
