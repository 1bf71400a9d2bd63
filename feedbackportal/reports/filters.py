"""The managers' filters as FilterSets: read from the query string, every filter combines (AND).

A bad value is reported on its field and that filter alone is left out (django-filter filters on
the form's cleaned_data, which holds only the valid fields).
"""

from datetime import date, timedelta
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.reports.forms import (
    DATE_FILTERS,
    OUTCOME_CHOICES,
    AgentChoiceField,
    ReportDateField,
    ReportFilterForm,
)
from feedbackportal.reports.selectors import AUDIT_KINDS, AllFeedbackSince, audit_trail, on_leads_found, start_of


class DayFilter(django_filters.Filter):
    """A whole day in the portal's time zone, as the first (`bound="from"`) or last (`"to"`) day of a range."""

    field_class = ReportDateField

    def __init__(self, field_name: str, *, bound: str, **kwargs: Any) -> None:
        super().__init__(field_name, **kwargs)
        self.bound = bound

    def filter(self, qs: QuerySet, value: date | None) -> QuerySet:
        if value is None:
            return qs
        if self.bound == "from":
            return qs.filter(**{f"{self.field_name}__gte": start_of(value)})
        return qs.filter(**{f"{self.field_name}__lt": start_of(value + timedelta(days=1))})


class AgentFilter(django_filters.ModelChoiceFilter):
    field_class = AgentChoiceField


def _agents(request: Any) -> QuerySet:
    return get_user_model().objects.order_by("first_name", "last_name", "username")


class HistoryFilter(django_filters.FilterSet):
    """The filters of the history, its CSV and the rates page, over Feedback."""

    created_from = DayFilter("created_at", bound="from", label="Feedback from")
    created_to = DayFilter("created_at", bound="to", label="Feedback to")
    received_from = DayFilter("lead__received_at", bound="from", label="Lead received from")
    received_to = DayFilter("lead__received_at", bound="to", label="Lead received to")
    type = django_filters.ChoiceFilter(
        field_name="feedback_type", label="Type", choices=FeedbackType.choices, empty_label="Any type"
    )
    reason = django_filters.ModelChoiceFilter(
        label="Reason",
        queryset=Reason.objects.order_by("feedback_type", "position", "label"),
        empty_label="Any reason",
    )
    status = django_filters.ChoiceFilter(label="Status", choices=Status.choices, empty_label="Any status")
    outcome = django_filters.ChoiceFilter(
        label="LeadConduit outcome",
        choices=[choice for choice in OUTCOME_CHOICES if choice[0]],
        empty_label=OUTCOME_CHOICES[0][1],
        method="filter_outcome",
    )
    agent = AgentFilter(label="Agent", queryset=_agents, empty_label="Any agent")
    q = django_filters.CharFilter(
        label="Lead",
        max_length=100,
        method="filter_lead_text",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, phone, email or event id"}),
    )

    class Meta:
        model = Feedback
        fields: list[str] = []
        form = ReportFilterForm

    def filter_outcome(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(outcome="" if value == "none" else value)

    def filter_lead_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # The agents' own search: phone in any format, email, name or event id (or its prefix).
        return on_leads_found(queryset, value)

    def cleaned(self) -> dict:
        """The valid, non-empty filter values, by name."""
        self.form.is_valid()
        return {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}

    def through_leads(self) -> bool:
        """Whether the feedback is filtered through its lead (the lead's text or received dates)."""
        return bool({"q", "received_from", "received_to"} & set(self.cleaned()))

    def first_day(self) -> date | None:
        """The day no filtered feedback is older than (its "from" date), when the feedback is filtered
        on its own columns only: then each week is counted apart (reports.selectors.weeks_counted).
        Through its lead (text, received dates), every week would look the leads up again."""
        return None if self.through_leads() else self.cleaned().get("created_from")

    def cohort_period(self) -> tuple[date | None, date | None]:
        """The lead cohort a return rate is measured on: the received range if given, else the feedback range."""
        values = self.cleaned()
        if values.get("received_from") or values.get("received_to"):
            return values.get("received_from"), values.get("received_to")
        return values.get("created_from"), values.get("created_to")

    def all_feedback_since(self) -> AllFeedbackSince | None:
        """Whether the filtered feedback is, for each lead of the cohort, all the feedback it was
        given since a day (then the cohort's leads answer from their feedback summary), or None.

        So it is when the only filters are dates: the received dates hold for every feedback of a
        lead received then, and the feedback dates are "since" the first day, as long as nothing was
        given after the last (a check of the created_at index)."""
        values = self.cleaned()
        if set(values) - set(DATE_FILTERS):
            return None
        last: date | None = values.get("created_to")
        if last and Feedback.objects.filter(created_at__gte=start_of(last + timedelta(days=1))).exists():
            return None
        first: date | None = values.get("created_from")
        return AllFeedbackSince(start_of(first) if first else None)


def history_filter(data: Any) -> HistoryFilter:
    return HistoryFilter(data, queryset=Feedback.objects.all())


class AuditFilter(django_filters.FilterSet):
    """The audit trail's one filter, the kind of record. The trail is a union of three tables, which
    cannot be filtered after the fact, so a kind picks which of them are read."""

    kind = django_filters.ChoiceFilter(choices=list(AUDIT_KINDS.items()), empty_label="All", method="filter_kind")

    def filter_kind(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return audit_trail(value)

    @property
    def kind_value(self) -> str:
        if not self.form.is_valid():
            return ""
        return self.form.cleaned_data.get("kind") or ""


def audit_filter(data: Any) -> AuditFilter:
    return AuditFilter(data, queryset=audit_trail())
