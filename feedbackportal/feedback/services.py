"""Writes for feedback. The web side only records and enqueues; it never talks to LeadConduit."""

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format

from feedbackportal.feedback.models import (
    TRANSITIONS,
    UNDONE_BY,
    ActionKind,
    Feedback,
    FeedbackAction,
    FeedbackType,
    Reason,
    Status,
)
from feedbackportal.feedback.tasks import enqueue_delivery
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead, reason_text_for
from feedbackportal.people import display_name


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
    agent: User | None = None,
    idempotency_key: uuid.UUID | None = None,
    undo_seconds: int | None = None,
) -> Feedback:
    """Record a feedback and enqueue its delivery, both in one transaction.

    The delivery waits ``undo_seconds`` (default: the FEEDBACK_UNDO_SECONDS setting; 0 sends at
    once) so the agent can take it back with undo_feedback; the worker does not claim it sooner.
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
    if undo_seconds is None:
        undo_seconds = settings.FEEDBACK_UNDO_SECONDS
    now = timezone.now()
    send_after = now + timedelta(seconds=undo_seconds) if undo_seconds > 0 else None
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
                next_attempt_at=send_after,
                created_at=now,
            )
            enqueue_delivery(feedback, run_after=send_after)
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


# ---- Undo: the agent takes a feedback back before anything went out

ALREADY_SENT = "Already sent to LeadConduit; it can no longer be undone."


def undo_feedback(*, feedback: Feedback, actor: User) -> Feedback:
    """Cancel a feedback nothing has been sent for, and record who did it (ActionKind.UNDONE).

    Only its agent or a manager (feedback.resolve_feedback) may. The cancel is a conditional
    update on "queued, never attempted", the same row the worker's claim updates on "queued",
    so exactly one of them wins: an undo that loses raises FeedbackRefused (ALREADY_SENT when it
    was sent, or is being sent). Undoing it twice returns it as it is.
    """
    if feedback.agent_id != actor.pk and not actor.has_perm("feedback.resolve_feedback"):
        raise FeedbackRefused("Only the agent who sent it, or a manager, can undo it.")
    transition = TRANSITIONS[ActionKind.UNDONE]
    unsent = Feedback.objects.filter(pk=feedback.pk, status__in=transition.from_statuses, attempt_count=0)
    with transaction.atomic():
        undone = unsent.update(
            status=transition.to_status,
            status_message=f"{UNDONE_BY}{display_name(actor)} before it was sent; nothing reached LeadConduit."[:500],
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if undone:
            FeedbackAction.objects.create(
                feedback=feedback,
                actor=actor,
                action=ActionKind.UNDONE,
                from_status=Status.QUEUED,
                to_status=transition.to_status,
            )
    current = Feedback.objects.filter(pk=feedback.pk).first()
    if current is None:
        raise FeedbackRefused("This feedback no longer exists.")
    if undone or current.actions.filter(action=ActionKind.UNDONE).exists():
        return current
    if current.attempt_count:
        raise FeedbackRefused(ALREADY_SENT, existing=current)
    raise FeedbackRefused(
        f"It is {current.get_status_display().lower()} and can no longer be undone.", existing=current
    )


# ---- Resolution: what a manager does with feedback LeadConduit did not confirm

COMMENT_LIMIT = 2000
DONE = {
    ActionKind.RESENT: "resent",
    ActionKind.CONFIRMED: "marked as delivered",
    ActionKind.CANCELLED: "cancelled",
    ActionKind.UNDONE: "undone",
}


def resolve_feedback(*, feedback: Feedback, actor: User, action: str, comment: str = "") -> Feedback:
    """Resend, mark delivered or cancel a feedback (``action``, an ActionKind), as models.TRANSITIONS allows.

    Acts only if the feedback is still as the caller saw it (its status and attempt count);
    otherwise someone else acted first — a worker claiming it, another manager — and
    FeedbackRefused says so. Every action is recorded with who, when and the comment. Raises
    FeedbackRefused too when the status does not allow the action, a required comment is missing
    (resending an unconfirmed feedback: LeadConduit bills every call), or the lead meanwhile has
    another live feedback of the same type (``existing`` then holds it).
    """
    transition = TRANSITIONS[action]
    done = DONE[ActionKind(action)]
    if feedback.status not in transition.from_statuses:
        raise FeedbackRefused(f"A feedback that is {feedback.get_status_display().lower()} cannot be {done}.")
    comment = _checked_comment(comment, required=feedback.comment_required_for(action), action=action)
    try:
        with transaction.atomic():
            updated = _transition(feedback, to_status=transition.to_status, **_changes(action, actor))
            if updated:
                if transition.to_status == Status.QUEUED:
                    enqueue_delivery(feedback)
                FeedbackAction.objects.create(
                    feedback=feedback,
                    actor=actor,
                    action=action,
                    comment=comment,
                    from_status=feedback.status,
                    to_status=transition.to_status,
                )
    except IntegrityError:
        raise _live_conflict(feedback, done) from None
    if not updated:
        raise _moved_on(feedback)
    feedback.refresh_from_db()
    return feedback


def resend_feedback(*, feedback: Feedback, actor: User, comment: str = "") -> Feedback:
    """Queue an unconfirmed or failed feedback for one more delivery (a fresh round of retries)."""
    return resolve_feedback(feedback=feedback, actor=actor, action=ActionKind.RESENT, comment=comment)


def confirm_feedback_delivered(*, feedback: Feedback, actor: User, comment: str) -> Feedback:
    """Count it as accepted because a person found it in LeadConduit (the comment says where)."""
    return resolve_feedback(feedback=feedback, actor=actor, action=ActionKind.CONFIRMED, comment=comment)


def cancel_feedback(*, feedback: Feedback, actor: User, comment: str) -> Feedback:
    """Stop it for good: not sent (again), no longer live. Cannot overtake a worker's claim."""
    return resolve_feedback(feedback=feedback, actor=actor, action=ActionKind.CANCELLED, comment=comment)


def _changes(action: str, actor: User) -> dict[str, Any]:
    match action:
        case ActionKind.RESENT:
            return {
                "status_message": "",
                "next_attempt_at": None,
                "task_id": "",
                "attempts_before_resend": F("attempt_count"),
            }
        case ActionKind.CONFIRMED:
            message = f"Marked as delivered by {display_name(actor)}, who found it in LeadConduit."
            return {"status_message": message[:500], "next_attempt_at": None}
        case _:
            return {"status_message": f"Cancelled by {display_name(actor)}."[:500], "next_attempt_at": None}


def _checked_comment(comment: str, *, required: bool, action: str) -> str:
    comment = comment.strip()
    if required and not comment:
        if action == ActionKind.RESENT:
            raise FeedbackRefused(
                "Before resending an unconfirmed feedback, check LeadConduit and say in the comment "
                "that it did not arrive: LeadConduit bills every call and does not remove duplicates."
            )
        verb = {ActionKind.CONFIRMED: "marking it as delivered", ActionKind.CANCELLED: "cancelling"}[ActionKind(action)]
        raise FeedbackRefused(f"Add a comment before {verb}: what you checked and why.")
    if len(comment) > COMMENT_LIMIT:
        raise FeedbackRefused(f"Keep the comment under {COMMENT_LIMIT} characters.")
    return comment


def _transition(feedback: Feedback, *, to_status: str, **changes) -> int:
    # The status and attempt count the caller saw act as a version: any worker, sweeper or manager
    # that moved the feedback on since then changed at least one of them.
    as_seen = Feedback.objects.filter(pk=feedback.pk, status=feedback.status, attempt_count=feedback.attempt_count)
    return as_seen.update(status=to_status, updated_at=timezone.now(), **changes)


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
