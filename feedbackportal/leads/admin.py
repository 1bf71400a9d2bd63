from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from feedbackportal.leads.models import Lead, Source, SourceReasonWording

ADMIN_SEARCH_CAP = 1000


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["event_id", "first_name", "last_name", "email", "phone", "source_name", "price", "received_at"]
    # Usable at a million leads: the agents' indexed search instead of icontains over five columns,
    # no count of the whole table, no date drill-down or distinct-values filter that scans it.
    search_fields = ["event_id", "first_name", "last_name", "email", "phone_digits"]
    search_help_text = (
        "Phone in any format, email, name (Last, First) or event id, as the agents search "
        f"(at most {ADMIN_SEARCH_CAP:,} matches)."
    )
    show_full_result_count = False
    list_filter = ["source"]
    list_select_related = ["source"]
    raw_id_fields = ["source"]
    readonly_fields = ["phone_digits", "raw_payload", "created_at", "updated_at"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        if not search_term.strip():
            return queryset, False
        # The matches as a literal list: as a subquery PostgreSQL may walk received_at newest first.
        ids = list(Lead.objects.search(search_term).order_by().values_list("pk", flat=True)[:ADMIN_SEARCH_CAP])
        return queryset.filter(pk__in=ids), False

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.feedbacks.exists():
            return False
        return super().has_delete_permission(request, obj)


class SourceReasonWordingInline(admin.TabularInline):
    model = SourceReasonWording
    extra = 1
    autocomplete_fields = ()
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
