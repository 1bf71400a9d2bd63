"""Writes for feedback. The web side only records and enqueues; it never talks to LeadConduit."""

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format

from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackAction, FeedbackType, Reason, Status
from feedbackportal.feedback.tasks import enqueue_delivery
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead, reason_text_for


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
    if reason is not None:
        # The seller's own words for our reason, if the lead's source has them (consistent reports there).
        reason_text = reason_text_for(source_id=lead.source_id, reason_id=reason.pk, catalog_text=reason_text)
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
            enqueue_delivery(feedback)
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


# ---- Resolution: what a manager does with feedback LeadConduit did not confirm

RESENDABLE = (Status.UNCONFIRMED, Status.FAILED)
CONFIRMABLE = (Status.UNCONFIRMED, Status.FAILED)
CANCELLABLE = (Status.UNCONFIRMED, Status.FAILED, Status.QUEUED, Status.RETRYING)
COMMENT_LIMIT = 2000


def allowed_actions(feedback: Feedback) -> list[str]:
    """The resolution actions (ActionKind values) that fit the feedback's status, in display order."""
    possible = [
        (ActionKind.RESENT, RESENDABLE),
        (ActionKind.CONFIRMED, CONFIRMABLE),
        (ActionKind.CANCELLED, CANCELLABLE),
    ]
    return [kind.value for kind, statuses in possible if feedback.status in statuses]


def resend_feedback(*, feedback: Feedback, actor: AbstractBaseUser, comment: str = "") -> Feedback:
    """Queue an unconfirmed or failed feedback for one more delivery, and record who did it.

    Acts only if the feedback is still as the caller saw it (its status and attempt count);
    otherwise someone else acted first and FeedbackRefused says so. An unconfirmed feedback may
    already be in LeadConduit, which bills every call: resending one needs a comment saying it
    was checked there. Raises FeedbackRefused too when the lead has meanwhile got another live
    feedback of the same type (``existing`` then holds it).
    """
    _check_status(feedback, RESENDABLE, "resent")
    comment = _checked_comment(comment, required=feedback.status == Status.UNCONFIRMED, verb="resending")
    try:
        with transaction.atomic():
            updated = _transition(
                feedback,
                to_status=Status.QUEUED,
                status_message="",
                next_attempt_at=None,
                task_id="",
                attempts_before_resend=F("attempt_count"),
            )
            if updated:
                enqueue_delivery(feedback)
                _record_action(feedback, actor, ActionKind.RESENT, comment, to_status=Status.QUEUED)
    except IntegrityError:
        raise _live_conflict(feedback, "resent") from None
    if not updated:
        raise _moved_on(feedback)
    feedback.refresh_from_db()
    return feedback


def confirm_feedback_delivered(*, feedback: Feedback, actor: AbstractBaseUser, comment: str) -> Feedback:
    """Mark an unconfirmed or failed feedback as accepted because a person found it in LeadConduit.

    The comment (what was checked) is required. Raises FeedbackRefused if the feedback changed
    since the caller saw it, or if the lead meanwhile has another live feedback of the same type.
    """
    _check_status(feedback, CONFIRMABLE, "marked as delivered")
    comment = _checked_comment(comment, required=True, verb="marking it as delivered")
    message = f"Marked as delivered by {_name(actor)}, who found it in LeadConduit."
    try:
        with transaction.atomic():
            updated = _transition(
                feedback, to_status=Status.ACCEPTED, status_message=message[:500], next_attempt_at=None
            )
            if updated:
                _record_action(feedback, actor, ActionKind.CONFIRMED, comment, to_status=Status.ACCEPTED)
    except IntegrityError:
        raise _live_conflict(feedback, "marked as delivered") from None
    if not updated:
        raise _moved_on(feedback)
    feedback.refresh_from_db()
    return feedback


def cancel_feedback(*, feedback: Feedback, actor: AbstractBaseUser, comment: str) -> Feedback:
    """Stop a feedback for good: it is not sent (again) and no longer counts as live.

    The comment is required. The update is conditional on the status the caller saw, so it
    cannot overtake a worker claiming the feedback at the same moment: exactly one of the two
    wins, and if the worker did, FeedbackRefused says the feedback is being sent.
    """
    _check_status(feedback, CANCELLABLE, "cancelled")
    comment = _checked_comment(comment, required=True, verb="cancelling")
    with transaction.atomic():
        updated = _transition(
            feedback,
            to_status=Status.CANCELLED,
            status_message=f"Cancelled by {_name(actor)}."[:500],
            next_attempt_at=None,
        )
        if updated:
            _record_action(feedback, actor, ActionKind.CANCELLED, comment, to_status=Status.CANCELLED)
    if not updated:
        raise _moved_on(feedback)
    feedback.refresh_from_db()
    return feedback


def _checked_comment(comment: str, *, required: bool, verb: str) -> str:
    comment = comment.strip()
    if required and not comment:
        if verb == "resending":
            raise FeedbackRefused(
                "Before resending an unconfirmed feedback, check LeadConduit and say in the comment "
                "that it did not arrive: LeadConduit bills every call and does not remove duplicates."
            )
        raise FeedbackRefused(f"Add a comment before {verb}: what you checked and why.")
    if len(comment) > COMMENT_LIMIT:
        raise FeedbackRefused(f"Keep the comment under {COMMENT_LIMIT} characters.")
    return comment


def _check_status(feedback: Feedback, allowed: tuple[str, ...], done: str) -> None:
    if feedback.status not in allowed:
        raise FeedbackRefused(f"A feedback that is {feedback.get_status_display().lower()} cannot be {done}.")


def _transition(feedback: Feedback, *, to_status: str, **changes) -> int:
    # The status and attempt count the caller saw act as a version: any worker, sweeper or manager
    # that moved the feedback on since then changed at least one of them.
    as_seen = Feedback.objects.filter(pk=feedback.pk, status=feedback.status, attempt_count=feedback.attempt_count)
    return as_seen.update(status=to_status, updated_at=timezone.now(), **changes)


def _record_action(
    feedback: Feedback, actor: AbstractBaseUser, action: str, comment: str, *, to_status: str
) -> FeedbackAction:
    return FeedbackAction.objects.create(
        feedback=feedback, actor=actor, action=action, comment=comment, from_status=feedback.status, to_status=to_status
    )


def _moved_on(feedback: Feedback) -> FeedbackRefused:
    current = Feedback.objects.filter(pk=feedback.pk).first()
    if current is None:
        return FeedbackRefused("This feedback no longer exists.")
    return FeedbackRefused(
        f"This feedback changed while you were looking at it (it is now {current.get_status_display().lower()}); "
        "nothing was done. Check it again.",
        existing=current,
    )


def _live_conflict(feedback: Feedback, done: str) -> FeedbackRefused:
    live = Feedback.objects.live().filter(lead_id=feedback.lead_id, feedback_type=feedback.feedback_type).first()
    if live is None:
        return FeedbackRefused(f"It could not be {done}; check it again.")
    kind = live.get_feedback_type_display().lower()
    return FeedbackRefused(
        f"This lead already has another {kind} (#{live.pk}, {live.get_status_display().lower()}, "
        f"from {date_format(timezone.localtime(live.created_at), 'M j, H:i')}); this one was not {done}.",
        existing=live,
    )


def _name(user: AbstractBaseUser) -> str:
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full_name or user.get_username()
