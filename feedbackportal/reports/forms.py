from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django_filters.fields import ModelChoiceField

from feedbackportal.people import display_name

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
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", DateInput())
        super().__init__(**kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(f"Choose a date between {EARLIEST:%Y} and {LATEST:%Y}.")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class AgentChoiceField(ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return display_name(obj)


class ReportFilterForm(forms.Form):
    """The form behind the reports' FilterSet (reports.filters.HistoryFilter): dates first, then the rest."""

    def date_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in DATE_FILTERS if name in self.fields]

    def other_fields(self) -> list[forms.BoundField]:
        return [field for field in self if field.name not in DATE_FILTERS]


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
