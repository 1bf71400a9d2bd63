from datetime import date, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.utils import timezone

from feedbackportal.feedback.models import FeedbackType, Reason, Status

OUTCOME_CHOICES = [
    ("", "Any answer"),
    ("success", "success (accepted)"),
    ("failure", "failure (rejected)"),
    ("error", "error"),
    ("none", "no answer yet"),
]


DATE_FILTERS = ("created_from", "created_to", "received_from", "received_to")


# Dates far enough from date.min/date.max that a day either side (and any time zone) still exists.
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


class ReportDateField(forms.DateField):
    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, widget=DateInput(), **kwargs)

    def validate(self, value) -> None:
        super().validate(value)
        if value and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(f"Choose a date between {EARLIEST:%Y} and {LATEST:%Y}.")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.get_username()


class HistoryFilterForm(forms.Form):
    """The managers' filters, read from the query string; they all combine (AND).

    Bad values are reported on the field and that filter alone is left out.
    """

    created_from = ReportDateField(label="Feedback from")
    created_to = ReportDateField(label="Feedback to")
    received_from = ReportDateField(label="Lead received from")
    received_to = ReportDateField(label="Lead received to")
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any type"), *FeedbackType.choices])
    reason = forms.ModelChoiceField(
        label="Reason", required=False, queryset=Reason.objects.order_by("feedback_type", "position", "label")
    )
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *Status.choices])
    outcome = forms.ChoiceField(label="LeadConduit outcome", required=False, choices=OUTCOME_CHOICES)
    agent = AgentChoiceField(label="Agent", required=False, queryset=get_user_model().objects.none())
    q = forms.CharField(label="Lead", required=False, max_length=100, widget=forms.TextInput(attrs={"type": "search"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].empty_label = "Any reason"
        agent_field = self.fields["agent"]
        agent_field.empty_label = "Any agent"
        agent_field.queryset = get_user_model().objects.order_by("first_name", "last_name", "username")
        self.fields["q"].widget.attrs["placeholder"] = "Name, phone, email or event id"

    def date_fields(self) -> list:
        return [self[name] for name in DATE_FILTERS]

    def other_fields(self) -> list:
        return [field for field in self if field.name not in DATE_FILTERS]

    def filters(self) -> dict:
        """The valid, non-empty filters (run is_valid() first)."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


def with_default_period(query: QueryDict, *, weeks: int = 12) -> QueryDict:
    """Reports need a period: without any date filter, the last `weeks` weeks of feedback."""
    if any(query.get(name) for name in DATE_FILTERS):
        return query
    today = timezone.localdate()
    query = query.copy()
    query["created_from"] = (today - timedelta(weeks=weeks) + timedelta(days=1)).isoformat()
    query["created_to"] = today.isoformat()
    return query


def month_or_current(value: str) -> date:
    """The first day of the month named "YYYY-MM", or of this month when it is missing or malformed."""
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        return timezone.localdate().replace(day=1)
    return first if EARLIEST <= first <= LATEST else timezone.localdate().replace(day=1)
