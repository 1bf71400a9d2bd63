import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from feedbackportal.leads.models import Lead


class FeedbackType(models.TextChoices):
    RETURN = "return", "Return"
    CONVERSION = "conversion", "Conversion"


# The digit keys agents press on the lead page to pick a reason.
HOTKEYS = range(1, 10)


class ReasonQuerySet(models.QuerySet["Reason"]):
    def active(self) -> "ReasonQuerySet":
        return self.filter(active=True)

    def for_type(self, feedback_type: str) -> "ReasonQuerySet":
        return self.filter(feedback_type=feedback_type)

    def next_free_hotkey(self, feedback_type: str, *, excluding: int | None = None) -> int | None:
        """The lowest digit no active reason of this type holds (None when all nine are taken)."""
        holders = self.active().for_type(feedback_type)
        if excluding is not None:
            holders = holders.exclude(pk=excluding)
        taken = set(holders.values_list("hotkey", flat=True))
        return next((key for key in HOTKEYS if key not in taken), None)


class Reason(models.Model):
    """A catalog entry: what agents pick, and the exact words LeadConduit receives."""

    feedback_type = models.CharField("type", max_length=20, choices=FeedbackType.choices)
    label = models.CharField(max_length=100, help_text="What agents see.")
    text = models.CharField(
        "text sent to LeadConduit",
        max_length=255,
        help_text="Exactly what LeadConduit receives as the reason; keep the wording your sellers expect.",
    )
    active = models.BooleanField(
        default=True, help_text="Inactive reasons are hidden from agents but kept for history."
    )
    position = models.PositiveSmallIntegerField("order", default=0)
    # Agents type this digit (R 3 Enter) without looking, so it never follows the order: it changes
    # only when an admin changes it. Blank on a new reason takes the lowest free digit, if any.
    hotkey = models.PositiveSmallIntegerField(
        "key",
        null=True,
        blank=True,
        validators=[MinValueValidator(HOTKEYS.start), MaxValueValidator(HOTKEYS.stop - 1)],
        help_text="The digit (1 to 9) agents press to pick this reason. Leave blank on a new reason for the "
        "next free digit. Agents learn these by heart: change one only when you have told them.",
    )
    is_duplicate_reason = models.BooleanField(
        "the duplicate reason",
        default=False,
        help_text="Suggested to agents when the lead page finds other leads with the same phone or email "
        "(at most one per type).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReasonQuerySet.as_manager()

    class Meta:
        ordering = ["feedback_type", "position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["feedback_type", "label"], name="reason_label_unique_per_type"),
            models.UniqueConstraint(
                fields=["feedback_type", "hotkey"],
                condition=models.Q(active=True, hotkey__isnull=False),
                name="reason_hotkey_unique_per_active_type",
                violation_error_message="Another active reason of this type already has this key.",
            ),
            models.CheckConstraint(
                condition=models.Q(hotkey__isnull=True) | models.Q(hotkey__gte=1, hotkey__lte=9),
                name="reason_hotkey_is_a_digit",
            ),
            models.UniqueConstraint(
                fields=["feedback_type"],
                condition=models.Q(is_duplicate_reason=True),
                name="one_duplicate_reason_per_type",
                violation_error_message="Another reason of this type is already the duplicate reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_feedback_type_display()}: {self.label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.hotkey is None and self.active:
            self.hotkey = Reason.objects.next_free_hotkey(self.feedback_type)
        super().save(*args, **kwargs)

    @property
    def is_used(self) -> bool:
        return self.feedbacks.exists()


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected by LeadConduit"
    ERROR = "error", "Error"
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    FAILED = "failed", "Not delivered"
    CANCELLED = "cancelled", "Cancelled"


# A live feedback blocks another of the same type for the same lead (LeadConduit bills every call).
LIVE_STATUSES = (Status.QUEUED, Status.SENDING, Status.RETRYING, Status.ACCEPTED, Status.UNCONFIRMED)
PENDING_STATUSES = (Status.QUEUED, Status.SENDING, Status.RETRYING)
# What a manager resolves: LeadConduit may have it (unconfirmed), certainly does not (failed), or
# answered that it could not process it (error: resending is allowed, following up with the seller advised).
NEEDS_ATTENTION_STATUSES = (Status.UNCONFIRMED, Status.FAILED, Status.ERROR)
# A queued feedback waiting longer than this is waiting for a worker, not for LeadConduit.
QUEUED_PATIENCE = timedelta(seconds=30)


class ActionKind(models.TextChoices):
    RESENT = "resent", "Resent"
    CONFIRMED = "confirmed", "Marked as delivered"
    CANCELLED = "cancelled", "Cancelled"
    # The agent who submitted it (or a manager) took it back inside the undo window; nothing was sent.
    UNDONE = "undone", "Undone"


# The cancelled feedback's status_message after an undo starts with this (see services.undo_feedback).
UNDONE_BY = "Undone by "


@dataclass(frozen=True)
class Transition:
    """What a manager's resolution action may start from, where it leads, and when it needs a comment."""

    from_statuses: tuple[Status, ...]
    to_status: Status
    comment_required_from: tuple[Status, ...]


# The one table of actions on a feedback, in display order. Resending an unconfirmed feedback needs a
# comment (it may already be in LeadConduit, which bills every call); a failed one certainly is not;
# an error reached LeadConduit (as a return-received-error), so resending it needs a comment too.
TRANSITIONS: dict[str, Transition] = {
    ActionKind.RESENT: Transition(
        from_statuses=(Status.UNCONFIRMED, Status.FAILED, Status.ERROR),
        to_status=Status.QUEUED,
        comment_required_from=(Status.UNCONFIRMED, Status.ERROR),
    ),
    ActionKind.CONFIRMED: Transition(
        from_statuses=(Status.UNCONFIRMED, Status.FAILED, Status.ERROR),
        to_status=Status.ACCEPTED,
        comment_required_from=(Status.UNCONFIRMED, Status.FAILED, Status.ERROR),
    ),
    ActionKind.CANCELLED: Transition(
        from_statuses=(Status.UNCONFIRMED, Status.FAILED, Status.ERROR, Status.QUEUED, Status.RETRYING),
        to_status=Status.CANCELLED,
        comment_required_from=(Status.UNCONFIRMED, Status.FAILED, Status.ERROR, Status.QUEUED, Status.RETRYING),
    ),
    # The agent's own undo (services.undo_feedback), which also needs it never attempted and theirs.
    ActionKind.UNDONE: Transition(from_statuses=(Status.QUEUED,), to_status=Status.CANCELLED, comment_required_from=()),
}


class FeedbackQuerySet(models.QuerySet["Feedback"]):
    def live(self) -> "FeedbackQuerySet":
        return self.filter(status__in=LIVE_STATUSES)

    def needs_attention(self) -> "FeedbackQuerySet":
        return self.filter(status__in=NEEDS_ATTENTION_STATUSES)


class Feedback(models.Model):
    """One return or conversion an agent entered: the outbox row of record for its delivery."""

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="feedbacks")
    feedback_type = models.CharField("type", max_length=20, choices=FeedbackType.choices)
    reason = models.ForeignKey(Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="feedbacks")
    reason_text = models.CharField("reason sent", max_length=255, blank=True)
    note = models.TextField(blank=True, help_text="Internal note; not sent to LeadConduit.")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="feedbacks"
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    status_message = models.CharField(max_length=500, blank=True)
    outcome = models.CharField("LeadConduit outcome", max_length=20, blank=True)
    outcome_reason = models.TextField("LeadConduit reason", blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    # A manager's resend starts a fresh round of automatic retries from here.
    attempts_before_resend = models.PositiveIntegerField(default=0, editable=False)
    # Not before this: a queued feedback's undo window end, or a retry's back-off.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)  # indexed by feedback_newest
    updated_at = models.DateTimeField(auto_now=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        permissions = [
            ("use_desk", "Can find leads and record returns and conversions (every role has it)"),
            ("resolve_feedback", "Can resend, confirm or cancel unconfirmed and failed feedback"),
            ("view_reports", "Can see all feedback history, reports, the audit trail and exports"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "feedback_type"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="one_live_feedback_per_lead_and_type",
            ),
        ]
        # The managers' history filters on these, newest first; each index serves one filter + the order.
        indexes = [
            # With type and status alongside (PostgreSQL), the charts count a period's feedback from
            # the index alone (migration 0011).
            models.Index(
                fields=["-created_at", "-id"], include=["feedback_type", "status"], name="feedback_newest_counted"
            ),
            models.Index(fields=["feedback_type", "-created_at"], name="feedback_type_newest"),
            models.Index(fields=["status", "-created_at"], name="feedback_status_newest"),
            models.Index(fields=["outcome", "-created_at"], name="feedback_outcome_newest"),
            models.Index(fields=["agent", "-created_at"], name="feedback_agent_newest"),
            models.Index(fields=["reason", "-created_at"], name="feedback_reason_newest"),
            models.Index(fields=["answered_at"], name="feedback_answered_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_feedback_type_display()} of {self.lead} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def can_be_undone(self) -> bool:
        """Nothing has gone out and no worker has claimed it: queued, never attempted."""
        return self.status == Status.QUEUED and self.attempt_count == 0

    @property
    def offers_undo(self) -> bool:
        """The agent was given an undo window for it (FEEDBACK_UNDO_SECONDS) and it can still be undone."""
        return self.can_be_undone and self.next_attempt_at is not None

    @property
    def undo_seconds_left(self) -> int:
        """Whole seconds, rounded up, until a queued feedback's undo window ends and it may be sent; else 0."""
        if self.status != Status.QUEUED or self.next_attempt_at is None:
            return 0
        return max(0, math.ceil((self.next_attempt_at - timezone.now()).total_seconds()))

    @property
    def _waits_for_a_worker(self) -> bool:
        # Counted from the end of its undo window, if it had one: until then it is not due.
        due_since = max(self.updated_at, self.next_attempt_at or self.updated_at)
        return timezone.now() - due_since > QUEUED_PATIENCE

    @property
    def is_live(self) -> bool:
        """It blocks another feedback of its type for its lead: sent, being sent, or possibly sent."""
        return self.status in LIVE_STATUSES

    @property
    def needs_attention(self) -> bool:
        """A manager must resolve it: unconfirmed, failed (not delivered), or an error LeadConduit answered."""
        return self.status in NEEDS_ATTENTION_STATUSES

    @property
    def allowed_actions(self) -> list[str]:
        """The resolution actions (ActionKind values) that fit the status, in display order."""
        return [action for action, transition in TRANSITIONS.items() if self.status in transition.from_statuses]

    def comment_required_for(self, action: str) -> bool:
        return self.status in TRANSITIONS[action].comment_required_from

    @property
    def actions_needing_comment(self) -> list[str]:
        """comment_required_for, for templates: the allowed actions that need a comment now."""
        return [action for action in self.allowed_actions if self.comment_required_for(action)]

    @property
    def agent_message(self) -> str:
        """What an agent on the phone needs to know about this feedback, in plain words."""
        match self.status:
            case Status.QUEUED if self.undo_seconds_left:
                return f"Sending in {self.undo_seconds_left} s."
            case Status.QUEUED if self._waits_for_a_worker:
                return "Saved; waiting for the delivery worker to send it. Nothing to do, do not submit it again."
            case Status.QUEUED:
                return "Queued. Sending to LeadConduit…"
            case Status.SENDING:
                return "Sending to LeadConduit…"
            case Status.RETRYING:
                when = timezone.localtime(self.next_attempt_at).strftime("%H:%M:%S") if self.next_attempt_at else "soon"
                return f"LeadConduit could not be reached. Trying again automatically at {when}."
            case Status.ACCEPTED:
                return self.status_message or "Accepted by LeadConduit."
            case Status.REJECTED:
                return f"LeadConduit did not accept it: {self.outcome_reason or 'no reason given'}."
            case Status.ERROR:
                # The technical detail (status_message, the attempts) is for the manager's detail page.
                return (
                    f"LeadConduit could not record this {self.get_feedback_type_display().lower()}. A manager will "
                    "check it and send it again if needed; do not send it again yourself."
                )
            case Status.UNCONFIRMED:
                return "Unconfirmed: LeadConduit may have received it. A manager will check; do not send it again."
            case Status.FAILED:
                return (
                    f"Not delivered: LeadConduit could not be reached after {self.attempt_count} tries. "
                    "Nothing was recorded there; you can submit it again."
                )
            case Status.CANCELLED if self.status_message.startswith(UNDONE_BY):
                return self.status_message
            case Status.CANCELLED if self.attempt_count:
                return "Cancelled by a manager; not sent again."
            case Status.CANCELLED:
                return "Cancelled by a manager; not sent."
        return self.get_status_display()


class DeliveryAttempt(models.Model):
    """One HTTP call to LeadConduit for one feedback, recorded before it is made."""

    RESPONSE_LIMIT = 64 * 1024

    feedback = models.ForeignKey(Feedback, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_method = models.CharField(max_length=10, blank=True)
    request_url = models.TextField(blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    response_truncated = models.BooleanField(default=False)
    classification = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["feedback", "number"]
        constraints = [
            models.UniqueConstraint(fields=["feedback", "number"], name="attempt_number_unique_per_feedback"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} for feedback {self.feedback_id}"


class AppendOnly(models.Model):
    """An audit record: written once, never changed or deleted."""

    record_name: ClassVar[str] = "An audit record"

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError(f"{self.record_name} is an audit record; it cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError(f"{self.record_name} is an audit record; it cannot be deleted.")


class FeedbackAction(AppendOnly):
    """What a manager did to resolve a feedback, by whom and when. Written once, never changed."""

    record_name = "A feedback action"

    feedback = models.ForeignKey(Feedback, on_delete=models.PROTECT, related_name="actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="feedback_actions")
    action = models.CharField(max_length=20, choices=ActionKind.choices)
    comment = models.TextField(blank=True)
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["feedback", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} feedback {self.feedback_id} ({self.from_status} → {self.to_status})"


class ReasonChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DELETED = "deleted", "Deleted"


class ReasonChange(AppendOnly):
    """Who added, edited or deleted a catalog reason, and what each field was before and after.

    Written once, never changed. The reason's label is copied so the record outlives a deleted reason.
    """

    record_name = "A reason change"

    reason = models.ForeignKey(Reason, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")
    reason_label = models.CharField(max_length=100)
    feedback_type = models.CharField("type", max_length=20, choices=FeedbackType.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reason_changes")
    action = models.CharField(max_length=20, choices=ReasonChangeKind.choices)
    # {"field": ["old", "new"]}; for a created reason old is null, for a deleted one new is null.
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} reason {self.reason_label!r}"
