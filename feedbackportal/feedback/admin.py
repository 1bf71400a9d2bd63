from django.contrib import admin
from django.db.models import Count

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, FeedbackAction, Reason


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "feedback_type", "text", "active", "position", "times_used"]
    list_editable = ["active", "position"]
    list_filter = ["feedback_type", "active"]
    search_fields = ["label", "text"]
    ordering = ["feedback_type", "position", "label"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(use_count=Count("feedbacks"))

    @admin.display(description="times used", ordering="use_count")
    def times_used(self, obj: Reason) -> int:
        return obj.use_count

    def get_readonly_fields(self, request, obj: Reason | None = None) -> list[str]:
        # Past returns would otherwise point at a conversion reason (or the reverse) in every report.
        if obj is not None and obj.is_used:
            return [*super().get_readonly_fields(request, obj), "feedback_type"]
        return list(super().get_readonly_fields(request, obj))

    def has_delete_permission(self, request, obj: Reason | None = None) -> bool:
        # A used reason stays for history; deactivate it instead (the database also refuses).
        if obj is not None and obj.is_used:
            return False
        return super().has_delete_permission(request, obj)


class DeliveryAttemptInline(admin.StackedInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = [field.name for field in DeliveryAttempt._meta.fields if field.name != "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class FeedbackActionInline(admin.TabularInline):
    model = FeedbackAction
    extra = 0
    can_delete = False
    fields = ["created_at", "actor", "action", "from_status", "to_status", "comment"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lead", "feedback_type", "reason_text", "agent", "status", "outcome_reason"]
    list_filter = ["status", "feedback_type", "created_at"]
    search_fields = ["lead__event_id", "lead__last_name", "lead__email", "reason_text"]
    list_select_related = ["lead", "agent"]
    readonly_fields = [field.name for field in Feedback._meta.fields if field.name != "id"]
    inlines = [DeliveryAttemptInline, FeedbackActionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FeedbackAction)
class FeedbackActionAdmin(admin.ModelAdmin):
    """The managers' audit trail: readable, never written here."""

    list_display = ["created_at", "feedback", "action", "actor", "from_status", "to_status", "comment"]
    list_filter = ["action", "created_at"]
    search_fields = ["feedback__lead__event_id", "actor__username", "comment"]
    list_select_related = ["feedback__lead", "actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
