import uuid

from django import forms

from feedbackportal.feedback.models import FeedbackType, Reason
from feedbackportal.leadconduit import is_event_id


class FeedbackForm(forms.Form):
    feedback_type = forms.ChoiceField(
        label="Feedback", choices=FeedbackType.choices, widget=forms.RadioSelect, initial=FeedbackType.RETURN
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
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def clean(self) -> dict:
        data = super().clean()
        feedback_type, reason = data.get("feedback_type"), data.get("reason")
        if feedback_type == FeedbackType.RETURN and reason is None and "reason" not in self.errors:
            self.add_error("reason", "Choose a reason for the return.")
        elif reason is not None and feedback_type and reason.feedback_type != feedback_type:
            self.add_error("reason", f"“{reason.label}” is not a {feedback_type} reason.")
        return data


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
