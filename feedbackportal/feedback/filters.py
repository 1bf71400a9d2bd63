"""The managers' Needs-attention queue filter, as a django-filter FilterSet over its rows."""

import django_filters
from django.db.models import QuerySet

from feedbackportal.feedback.models import Feedback, Status

ALL = "all"


class AttentionQueueFilter(django_filters.FilterSet):
    """``?status=unconfirmed|failed|error|all``; any other value shows everything (the "All" tab)."""

    status = django_filters.ChoiceFilter(
        choices=[
            (Status.UNCONFIRMED.value, Status.UNCONFIRMED.label),
            (Status.FAILED.value, Status.FAILED.label),
            (Status.ERROR.value, Status.ERROR.label),
            (ALL, "All"),
        ],
        method="filter_status",
        empty_label=None,
    )

    class Meta:
        model = Feedback
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet[Feedback], name: str, value: str) -> QuerySet[Feedback]:
        if value == ALL:
            return queryset
        return queryset.filter(status=value)

    @property
    def current_tab(self) -> str:
        """The tab the rows belong to: the valid status asked for, else "all"."""
        self.errors  # noqa: B018 -- validates the form, so cleaned_data holds only valid values
        return self.form.cleaned_data.get("status") or ALL
