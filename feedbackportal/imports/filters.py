"""The rows of one import job's results page, as a django-filter FilterSet."""

import django_filters

from feedbackportal.imports.models import ImportRow, RowResult


class ImportRowFilter(django_filters.FilterSet):
    """``?result=created|updated|skipped``; any other value shows every row (the "All" tab)."""

    result = django_filters.ChoiceFilter(choices=RowResult.choices)

    class Meta:
        model = ImportRow
        fields = ["result"]

    @property
    def current_tab(self) -> str:
        """The result asked for if it is a valid one, else "" (All)."""
        self.errors  # noqa: B018 -- validates the form, so cleaned_data holds only valid values
        return self.form.cleaned_data.get("result") or ""
