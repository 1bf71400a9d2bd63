from django.conf import settings
from django.contrib import admin

from feedbackportal.sandbox.models import SandboxCall, SandboxEvent


class SandboxEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "first_name", "last_name", "created_at", "feedback_enabled", "return_window_days"]
    search_fields = ["event_id", "first_name", "last_name", "email"]
    list_filter = ["feedback_enabled"]


class SandboxCallAdmin(admin.ModelAdmin):
    list_display = ["received_at", "method", "event_id", "fault", "content_type", "status"]
    list_filter = ["status", "fault"]
    search_fields = ["event_id"]
    readonly_fields = [field.name for field in SandboxCall._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


if settings.SANDBOX_ENABLED:
    admin.site.register(SandboxEvent, SandboxEventAdmin)
    admin.site.register(SandboxCall, SandboxCallAdmin)
