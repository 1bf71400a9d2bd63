"""The worker's side of a feedback: claim it, make one call to LeadConduit, record what happened.

Invariant: a feedback is resent only when we know the earlier call did not reach LeadConduit.
"""

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Status
from feedbackportal.leadconduit import (
    Classification,
    Exchange,
    InvalidFeedback,
    LeadConduitError,
    LeadData,
    Outcome,
    Reply,
    send_feedback,
)
from feedbackportal.leadconduit.wire import storable_text
from feedbackportal.leads.models import BadPrice, parse_price

logger = logging.getLogger(__name__)

OUTCOME_STATUS = {Outcome.SUCCESS: Status.ACCEPTED, Outcome.FAILURE: Status.REJECTED, Outcome.ERROR: Status.ERROR}

# Enqueues the next try of a feedback at a time (feedback.tasks.enqueue_delivery in the worker).
EnqueueRetry = Callable[[Feedback, datetime], object]


def deliver_feedback(feedback_id: int, *, enqueue_retry: EnqueueRetry) -> str:
    """Deliver one feedback if it is waiting to be sent; return its status afterwards.

    Safe to call twice for the same feedback, at once or later: only the caller whose
    conditional update claims the row sends anything.
    """
    now = timezone.now()
    # A queued feedback's next_attempt_at is the end of its undo window: never claimed before it.
    not_before = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    due = Q(status=Status.QUEUED) & not_before | Q(status=Status.RETRYING, next_attempt_at__lte=now)
    # The claim and its attempt row commit together, before any byte leaves: a crash from here on
    # leaves a claimed feedback with an unfinished attempt, which the sweeper marks unconfirmed.
    with transaction.atomic():
        claimed = Feedback.objects.filter(due, pk=feedback_id).update(
            status=Status.SENDING, attempt_count=F("attempt_count") + 1, next_attempt_at=None, updated_at=now
        )
        if claimed:
            feedback = Feedback.objects.select_related("lead").get(pk=feedback_id)
            attempt = DeliveryAttempt.objects.create(feedback=feedback, number=feedback.attempt_count, started_at=now)
    if not claimed:
        current = Feedback.objects.filter(pk=feedback_id).values_list("status", flat=True).first()
        logger.info("Feedback %s not claimed (status %s)", feedback_id, current)
        return current or "missing"

    try:
        reply: Reply | LeadConduitError = send_feedback(
            feedback.lead.event_id, feedback.feedback_type, feedback.reason_text
        )
    except LeadConduitError as exc:
        reply = exc
    except InvalidFeedback as exc:
        _finish(feedback, attempt, None, status=Status.ERROR, message=str(exc), error=str(exc))
        return Status.ERROR
    except Exception as exc:  # a bug of ours mid-call: the call may have gone out
        logger.exception("Unexpected failure delivering feedback %s", feedback_id)
        _finish(
            feedback,
            attempt,
            None,
            status=Status.UNCONFIRMED,
            message="An internal error interrupted the delivery; a manager will check.",
            error=f"{type(exc).__name__}: {exc}",
            classification=Classification.UNKNOWN,
        )
        return Status.UNCONFIRMED

    if isinstance(reply, Reply):
        return _record_reply(feedback, attempt, reply)
    return _record_failure(feedback, attempt, reply, enqueue_retry)


def _record_reply(feedback: Feedback, attempt: DeliveryAttempt, reply: Reply) -> str:
    result = reply.result
    status = OUTCOME_STATUS[result.outcome]
    message = ""
    if result.outcome is Outcome.ERROR:
        message = f"LeadConduit had a problem recording it: {result.reason or 'no detail given'}."
    with transaction.atomic():
        _finish(
            feedback,
            attempt,
            reply.exchange,
            status=status,
            message=message,
            outcome=result.outcome.value,
            outcome_reason=result.reason,
            classification=Classification.ANSWERED,
        )
        lead = feedback.lead
        changed = lead.fill_from(_storable_lead(result.lead))
        if result.price is not None and lead.price is None:
            # LeadConduit's own figure for what the lead cost; one we were given already stands.
            try:
                lead.price = parse_price(result.price)
                changed.append("price")
            except BadPrice:
                logger.warning("LeadConduit's price for lead %s cannot be stored: %s", lead.pk, result.price)
        if changed:
            lead.save(update_fields=[*changed, "phone_digits", "updated_at"])
    return status


def _record_failure(
    feedback: Feedback, attempt: DeliveryAttempt, error: LeadConduitError, enqueue_retry: EnqueueRetry
) -> str:
    if error.classification is Classification.ANSWERED:
        status, message = Status.ERROR, f"LeadConduit refused the request: {error.message}"
    elif error.classification is Classification.UNKNOWN and not settings.LEADCONDUIT_RESEND_UNKNOWN:
        status, message = Status.UNCONFIRMED, error.message
    elif feedback.attempt_count - feedback.attempts_before_resend < settings.LEADCONDUIT_MAX_ATTEMPTS:
        status, message = Status.RETRYING, error.message
    elif error.classification is Classification.UNKNOWN or _reached_leadconduit_maybe(feedback):
        # Out of tries under LEADCONDUIT_RESEND_UNKNOWN, with a call whose fate is unknown: it may be
        # in LeadConduit, so a person decides (never "not delivered", which invites a resend).
        status, message = Status.UNCONFIRMED, error.message
    else:
        status, message = Status.FAILED, error.message

    with transaction.atomic():
        next_at = None
        if status is Status.RETRYING:
            next_at = timezone.now() + _backoff(feedback.attempt_count, error.retry_after)
            enqueue_retry(feedback, next_at)
        _finish(
            feedback,
            attempt,
            error.exchange,
            status=status,
            message=message,
            error=error.message,
            classification=error.classification,
            next_attempt_at=next_at,
        )
    return status


def _reached_leadconduit_maybe(feedback: Feedback) -> bool:
    this_round = DeliveryAttempt.objects.filter(feedback=feedback, number__gt=feedback.attempts_before_resend)
    return this_round.filter(classification=Classification.UNKNOWN).exists()


def _backoff(attempts_made: int, retry_after: float | None) -> timedelta:
    base = settings.LEADCONDUIT_RETRY_BASE_SECONDS * (2 ** (attempts_made - 1))
    delay = min(base, 3600.0) * random.uniform(0.5, 1.5)  # jitter spreads a thundering herd
    if retry_after is not None:
        delay = max(delay, min(retry_after, 3600.0))
    return timedelta(seconds=delay)


def _finish(
    feedback: Feedback,
    attempt: DeliveryAttempt,
    exchange: Exchange | None,
    *,
    status: str,
    message: str = "",
    error: str = "",
    outcome: str = "",
    outcome_reason: str = "",
    classification: str = "",
    next_attempt_at: datetime | None = None,
) -> None:
    now = timezone.now()
    if exchange is not None:
        body = exchange.response_body
        attempt.request_method = exchange.method
        attempt.request_url = storable_text(exchange.url)
        attempt.request_headers = _storable_headers(exchange.request_headers)
        attempt.request_body = storable_text(exchange.request_body)
        attempt.response_status = exchange.status
        attempt.response_headers = _storable_headers(exchange.response_headers)
        attempt.response_body = storable_text(body[: DeliveryAttempt.RESPONSE_LIMIT])
        attempt.response_truncated = len(body) > DeliveryAttempt.RESPONSE_LIMIT
        attempt.duration_ms = exchange.duration_ms
    attempt.finished_at = now
    attempt.classification = classification
    attempt.outcome = outcome
    attempt.error = storable_text(error)
    with transaction.atomic():  # the attempt and the feedback's status change together
        attempt.save()
        updated = Feedback.objects.filter(pk=feedback.pk, status=Status.SENDING).update(
            status=status,
            status_message=storable_text(message)[:500],
            outcome=outcome,
            outcome_reason=storable_text(outcome_reason),
            next_attempt_at=next_attempt_at,
            task_id=feedback.task_id,
            answered_at=now if classification == Classification.ANSWERED else None,
            updated_at=now,
        )
    if not updated:
        # The sweeper gave up on this call (it outlasted any timeout) and marked it unconfirmed;
        # the answer stays on the attempt for the person who resolves it.
        logger.warning("Feedback %s changed status while it was being sent", feedback.pk)


def _storable_headers(headers: dict[str, str]) -> dict[str, str]:
    return {storable_text(name): storable_text(value) for name, value in headers.items()}


def _storable_lead(data: LeadData) -> LeadData:
    return LeadData(**{name: storable_text(getattr(data, name)) for name in LeadData.__slots__})
