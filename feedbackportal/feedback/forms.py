import uuid
from typing import Any

from django import forms

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.leadconduit import is_event_id

STALE_FORM = "This form was out of date, so nothing was recorded. Check the history, then send it again."


class FeedbackForm(forms.Form):
    feedback_type = forms.ChoiceField(
        label="Feedback",
        choices=FeedbackType.choices,
        widget=forms.RadioSelect,
        initial=FeedbackType.RETURN,
        error_messages={"required": "Choose Return or Conversion.", "invalid_choice": "Choose Return or Conversion."},
    )
    reason = forms.ModelChoiceField(
        queryset=Reason.objects.active(),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "That reason is no longer in use; choose another."},
    )
    note = forms.CharField(
        label="Note (internal, not sent)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # One key per rendered form: a double click or a resent POST finds the feedback it already made.
    idempotency_key = forms.UUIDField(
        widget=forms.HiddenInput,
        initial=uuid.uuid4,
        error_messages={"required": STALE_FORM, "invalid": STALE_FORM},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        feedback_type, reason = data.get("feedback_type"), data.get("reason")
        if feedback_type == FeedbackType.RETURN and reason is None and "reason" not in self.errors:
            self.add_error("reason", "Choose a reason for the return.")
        elif reason is not None and feedback_type and reason.feedback_type != feedback_type:
            self.add_error("reason", f"“{reason.label}” is not a {feedback_type} reason.")
        if "idempotency_key" in self.errors:
            self._renew_idempotency_key()
        return data

    def is_fresh_for(self, event_id: str) -> bool:
        """Whether this form's key is unused, or was used for this same feedback (a double click).

        A key used for other feedback means a stale form, e.g. one restored by the Back button and
        changed; it gets an error and a new key instead of silently answering with the old feedback.
        """
        data = self.cleaned_data
        reason = data.get("reason")
        earlier = (
            Feedback.objects.filter(idempotency_key=data["idempotency_key"])
            .values_list("lead__event_id", "feedback_type", "reason_id")
            .first()
        )
        if earlier is None or earlier == (event_id, data["feedback_type"], reason.pk if reason else None):
            return True
        self.add_error("idempotency_key", STALE_FORM)
        self._renew_idempotency_key()
        return False

    def _renew_idempotency_key(self) -> None:
        self.data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict: bound forms only
        self.data[self.add_prefix("idempotency_key")] = str(uuid.uuid4())  # type: ignore[index]


class EventFeedbackForm(FeedbackForm):
    field_order = ["event_id", "feedback_type", "reason", "note"]

    event_id = forms.CharField(
        label="LeadConduit event id",
        max_length=40,
        help_text="24 characters, 0-9 and a-f, as LeadConduit sent it with the lead.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autofocus": True}),
    )

    def clean_event_id(self) -> str:
        value = self.cleaned_data["event_id"].strip().lower()
        if not is_event_id(value):
            raise forms.ValidationError("An event id is exactly 24 characters, 0-9 and a-f.")
        return value


class ResolutionForm(forms.Form):
    """A manager's resolve action: the comment, and the version of the feedback they decided on."""

    comment = forms.CharField(required=False, strip=False)  # length and need are the service's to judge
    # "status/attempt_count" as the page showed it; a garbled value acts on the feedback as it is now.
    seen = forms.CharField(required=False)

    def as_seen(self, feedback: Feedback) -> Feedback:
        """The feedback as the manager saw it, so the service's conditional update can refuse a stale decision."""
        status, _, attempts = self.cleaned_data["seen"].partition("/")
        if status in Status.values and attempts.isascii() and attempts.isdigit():
            feedback.status, feedback.attempt_count = status, int(attempts)
        return feedback
