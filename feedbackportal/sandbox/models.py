from django.db import models
from django.utils import timezone


class SandboxEvent(models.Model):
    """A delivery event the sandbox knows, with the seller's rules for feedback on it."""

    event_id = models.CharField(max_length=24, unique=True)
    lead_id = models.CharField(max_length=24)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone_1 = models.CharField(max_length=40, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    feedback_enabled = models.BooleanField(default=True)
    return_window_days = models.PositiveIntegerField(null=True, blank=True)
    allowed_reasons = models.TextField(blank=True, help_text="One per line; empty allows any reason.")

    def __str__(self) -> str:
        return f"{self.event_id} {self.first_name} {self.last_name}".strip()

    @property
    def allowed_reason_list(self) -> list[str]:
        return [line.strip() for line in self.allowed_reasons.splitlines() if line.strip()]


class SandboxCall(models.Model):
    """Every request the sandbox received, exactly as it arrived, and what it answered."""

    received_at = models.DateTimeField(auto_now_add=True)
    fault = models.CharField(max_length=20, blank=True)
    method = models.CharField(max_length=10)
    query = models.TextField(blank=True)
    event_id = models.CharField(max_length=100, blank=True, db_index=True)
    content_type = models.CharField(max_length=200, blank=True)
    accept = models.CharField(max_length=200, blank=True)
    authorization = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.PositiveSmallIntegerField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.event_id} → {self.status}"
