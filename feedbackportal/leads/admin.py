from django.contrib import admin
from django.utils.html import format_html

from feedbackportal.leads.models import Lead, Source, SourceReasonWording


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["event_id", "first_name", "last_name", "email", "phone", "source_name", "price", "received_at"]
    search_fields = ["event_id", "first_name", "last_name", "email", "phone_digits"]
    list_filter = ["source", "source_name"]
    list_select_related = ["source"]
    date_hierarchy = "received_at"
    raw_id_fields = ["source"]
    readonly_fields = ["phone_digits", "raw_payload", "created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.feedbacks.exists():
            return False
        return super().has_delete_permission(request, obj)


class SourceReasonWordingInline(admin.TabularInline):
    model = SourceReasonWording
    extra = 1
    autocomplete_fields: list[str] = []
    verbose_name = "reason wording"
    verbose_name_plural = "Reason wording this seller accepts (sent instead of the catalog text)"


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "return_window_days", "max_return_percent", "active", "intake_path"]
    list_filter = ["active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["intake_path", "created_at", "updated_at"]
    fields = [
        "name",
        "slug",
        "intake_path",
        "intake_token",
        "field_mapping",
        "return_window_days",
        "max_return_percent",
        "active",
        "created_at",
        "updated_at",
    ]
    inlines = [SourceReasonWordingInline]

    @admin.display(description="intake address (path)")
    def intake_path(self, obj: Source) -> str:
        if not obj.pk or not obj.slug:
            return "—"
        return format_html("<code>{}</code>", obj.get_intake_path())

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.leads.exists():
            return False
        return super().has_delete_permission(request, obj)
