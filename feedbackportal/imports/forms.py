from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from feedbackportal.feedback.models import FeedbackType
from feedbackportal.imports.csv_reader import FIELD_LABELS, IMPORT_FIELDS, SNIFF_BYTES, ImportRefused, refuse_binary
from feedbackportal.leads.models import Source

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        error_messages={"required": "Choose a CSV file.", "empty": "The file is empty."},
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is over {MAX_UPLOAD_BYTES // 1024 // 1024} MB; use the import command for it."
            )
        # Only the first bytes are read: a workbook or an image is refused before anything is stored.
        head = upload.read(SNIFF_BYTES)
        upload.seek(0)
        try:
            refuse_binary(head)
        except ImportRefused as exc:
            raise forms.ValidationError(exc.message) from None
        return upload


class LeadUploadForm(CsvUploadForm):
    source = forms.ModelChoiceField(
        queryset=Source.objects.filter(active=True),
        required=False,
        empty_label="— none (keep each lead's own) —",
        help_text="New leads belong to it, and its return window applies to them.",
    )


class FeedbackUploadForm(CsvUploadForm):
    feedback_type = forms.ChoiceField(
        label="Every row is a",
        choices=FeedbackType.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose Return or Conversion."},
    )


class ColumnMappingForm(forms.Form):
    """One choice per field (the lead fields unless others are given): which column of the file holds it."""

    def __init__(
        self,
        *args: Any,
        header: list[str],
        fields: dict[str, str] | None = None,
        required: tuple[str, ...] = ("event_id",),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "— not imported —"), *((name, name) for name in header if name)]
        labels = fields if fields is not None else {field: FIELD_LABELS[field] for field in IMPORT_FIELDS}
        for field, label in labels.items():
            self.fields[field] = forms.ChoiceField(
                label=label,
                choices=choices,
                required=field in required,
                error_messages={
                    "required": "Choose the column that holds the event id."
                    if field == "event_id"
                    else f"Choose the column that holds the {label.split(':')[0].split(' (')[0].lower()}."
                },
            )

    def mapping(self) -> dict[str, str]:
        return {field: column for field, column in self.cleaned_data.items() if column}


class ConfirmFindingsForm(forms.Form):
    """A reconciliation's "Mark delivered": one finding (its id), or every confirmable one without the field."""

    finding = forms.IntegerField(required=False, min_value=1)

    def finding_ids(self) -> list[int] | None:
        """The findings to confirm (None: all of them). Call after is_valid()."""
        chosen = self.cleaned_data.get("finding")
        return None if "finding" not in self.data else [chosen] if chosen else []
