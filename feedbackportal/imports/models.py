from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.leads.models import Lead, Source


class ImportKind(models.TextChoices):
    LEADS = "leads", "Leads"
    FEEDBACK = "feedback", "Bulk feedback"
    RECONCILIATION = "reconciliation", "LeadConduit export reconciliation"


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", "Waiting for the column mapping"
    QUEUED = "queued", "Waiting for the worker"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Stopped"
    # Bulk feedback: the worker has read the file into a preview; nothing is sent until a manager confirms.
    CONFIRM = "confirm", "Waiting for your confirmation"
    CANCELLED = "cancelled", "Cancelled"


# What a manager may still cancel: everything that has not ended.
CANCELLABLE = (ImportStatus.MAPPING, ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.CONFIRM)


class ImportJob(models.Model):
    """One CSV import (leads, or bulk feedback), its progress counters and where its file is."""

    kind = models.CharField(max_length=20, choices=ImportKind.choices)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="import_jobs"
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="import_jobs")
    # Lead imports: lead field → CSV column header.
    column_mapping = models.JSONField(default=dict, blank=True)
    feedback_type = models.CharField(max_length=20, blank=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    skipped_count = models.PositiveIntegerField("skipped", default=0)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set with every batch: an import that stopped moving while its worker is gone gets resumed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Bulk feedback: what the file would send (see imports.feedback_preview), and who said send it.
    preview = models.JSONField(default=dict, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        # The tables were made when imports lived in the leads app; they keep their names and rows.
        db_table = "leads_importjob"
        ordering = ["-created_at", "-id"]
        permissions = [("import_data", "Can import leads and bulk feedback from CSV files")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import #{self.pk} ({self.original_name})"

    def get_absolute_url(self) -> str:
        if self.kind == ImportKind.RECONCILIATION:
            return reverse("reports:reconciliation", kwargs={"pk": self.pk})
        return reverse("imports:detail", kwargs={"pk": self.pk})

    @property
    def is_pending(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def is_cancellable(self) -> bool:
        return self.status in CANCELLABLE

    @property
    def is_previewing(self) -> bool:
        """A bulk feedback import whose file the worker is reading for its preview (nothing is sent)."""
        return self.kind == ImportKind.FEEDBACK and self.confirmed_at is None and self.is_pending

    @property
    def stage(self) -> str:
        """The status as a manager reads it (the preview phase of bulk feedback is not "Importing")."""
        if not self.is_previewing:
            return self.get_status_display()
        if self.status == ImportStatus.QUEUED:
            return "Waiting for the worker to read the file for a preview"
        return "Reading the file for a preview"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, self.processed * 100 // self.total_rows)


class RowResult(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    SKIPPED = "skipped", "Skipped"
    READ = "read", "Read"  # a row of LeadConduit's export, matched against the portal


class ImportRow(models.Model):
    """What happened to one row of an imported file."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(help_text="Line of the data row in the file, the header being line 1.")
    event_id = models.CharField(max_length=100, blank=True)
    result = models.CharField(max_length=20, choices=RowResult.choices)
    message = models.CharField(max_length=500, blank=True)
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The feedback a bulk-feedback row queued; feedback is the record of what was sent, never deleted.
    feedback = models.ForeignKey(Feedback, on_delete=models.PROTECT, null=True, blank=True, related_name="import_rows")
    # A row of LeadConduit's export (reconciliation): what it said, and the group it fell in.
    feedback_type = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True, help_text="The export's other columns, as they were.")
    group = models.CharField(max_length=20, blank=True)

    class Meta:
        db_table = "leads_importrow"
        ordering = ["job", "row_number"]
        indexes = [
            models.Index(fields=["job", "result", "row_number"], name="import_row_by_result"),
            # When each month was last reconciled: only export rows have a time.
            models.Index(fields=["at"], name="import_row_export_time", condition=models.Q(at__isnull=False)),
            # Matching reads an export's rows by event id and type, key after key.
            models.Index(
                fields=["job", "event_id", "feedback_type", "row_number"],
                name="import_row_export_key",
                condition=models.Q(result="read"),
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number}: {self.result}"


class FindingGroup(models.TextChoices):
    AGREE = "agree", "LeadConduit and the portal agree"
    CONFIRMABLE = "confirmable", "LeadConduit has it, the portal says unconfirmed"
    MISSING = "missing", "The portal says accepted, LeadConduit has none"
    ELSEWHERE = "elsewhere", "LeadConduit has it, the portal never sent it"
    TWICE = "twice", "LeadConduit has the same feedback twice"
    DIFFERS = "differs", "The outcome differs"


class ReconciliationFinding(models.Model):
    """One feedback (event id and type) of a reconciliation: the group it fell in, with its export rows."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="findings")
    group = models.CharField(max_length=20, choices=FindingGroup.choices)
    event_id = models.CharField(max_length=100)
    feedback_type = models.CharField(max_length=20)
    # The export rows that are the evidence (a success row, or both rows billed twice); none when missing.
    row_numbers = models.JSONField(default=list, blank=True)
    leadconduit_outcome = models.CharField(max_length=20, blank=True)
    portal_status = models.CharField("portal status when reconciled", max_length=20, blank=True)
    feedback = models.ForeignKey(
        Feedback,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliation_findings",
        db_index=False,  # finding_by_feedback starts with it
    )

    class Meta:
        ordering = ["job", "group", "id"]
        indexes = [
            models.Index(fields=["job", "group", "id"], name="finding_by_group"),
            # Is this feedback in that reconciliation (the accepted ones the export lacks, month-end)?
            models.Index(fields=["feedback", "job"], name="finding_by_feedback"),
        ]

    def __str__(self) -> str:
        return f"{self.get_group_display()}: {self.feedback_type} {self.event_id}"

    @property
    def rows_text(self) -> str:
        return ", ".join(str(number) for number in self.row_numbers)
