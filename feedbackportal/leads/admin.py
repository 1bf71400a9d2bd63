from django.contrib import admin

from feedbackportal.leads.models import Lead


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["event_id", "first_name", "last_name", "email", "phone", "source_name", "received_at"]
    search_fields = ["event_id", "first_name", "last_name", "email", "phone_digits"]
    list_filter = ["source_name"]
    date_hierarchy = "received_at"
    readonly_fields = ["phone_digits", "created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.feedbacks.exists():
            return False
        return super().has_delete_permission(request, obj)
