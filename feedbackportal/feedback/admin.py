from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from feedbackportal.feedback.models import (
    DeliveryAttempt,
    Feedback,
    FeedbackAction,
    FeedbackType,
    Reason,
    ReasonChange,
    ReasonChangeKind,
)

AUDITED_REASON_FIELDS = ["feedback_type", "label", "text", "active", "position", "hotkey", "is_duplicate_reason"]


def reason_values(reason: Reason) -> dict:
    return {field: getattr(reason, field) for field in AUDITED_REASON_FIELDS}


def record_reason_change(*, reason: Reason, actor, action: str, before: dict | None, after: dict | None) -> None:
    """Append who changed what in a reason: each changed field as [old, new] (None for absent)."""
    fields = AUDITED_REASON_FIELDS
    changes = {
        field: [(before or {}).get(field), (after or {}).get(field)]
        for field in fields
        if before is None or after is None or before[field] != after[field]
    }
    if not changes:
        return
    ReasonChange.objects.create(
        reason=None if action == ReasonChangeKind.DELETED else reason,
        reason_label=reason.label,
        feedback_type=reason.feedback_type,
        actor=actor,
        action=action,
        changes=changes,
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """An append-only record: readable in the admin, never added, changed or deleted there."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReasonAdminForm(forms.ModelForm):
    """Refuses, naming the other reason, a key or a duplicate flag another reason of the type holds.

    Also the changelist's form (only some fields there), so a reason switched on in the list cannot
    take a key another active reason holds either.
    """

    class Meta:
        model = Reason
        fields = ["feedback_type", "label", "text", "active", "position", "hotkey", "is_duplicate_reason"]

    def clean(self) -> dict:
        data = super().clean() or {}
        reason = self.instance

        def value(field: str):
            return data.get(field) if field in self.fields else getattr(reason, field)

        feedback_type, hotkey, active = value("feedback_type"), value("hotkey"), value("active")
        if not feedback_type or "hotkey" in self.errors:
            return data
        same_type = Reason.objects.for_type(feedback_type).exclude(pk=reason.pk)
        if active and hotkey is not None:
            holder = same_type.active().filter(hotkey=hotkey).first()
            if holder is not None:
                free = Reason.objects.next_free_hotkey(feedback_type, excluding=reason.pk)
                choice = f"pick {free}, the next free key, or leave it blank" if free else "leave it blank"
                message = (
                    f"Key {hotkey} already picks “{holder.label}” for agents; {choice} "
                    f"(or change “{holder.label}” first)."
                )
                self.add_error("hotkey" if "hotkey" in self.fields else None, message)
        if value("is_duplicate_reason"):
            holder = same_type.filter(is_duplicate_reason=True).first()
            if holder is not None:
                message = f"“{holder.label}” is already the duplicate reason for this type; untick it there first."
                self.add_error("is_duplicate_reason" if "is_duplicate_reason" in self.fields else None, message)
        return data


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
    form = ReasonAdminForm
    list_display = [
        "label",
        "feedback_type",
        "hotkey",
        "text",
        "active",
        "position",
        "is_duplicate_reason",
        "times_used",
    ]
    list_editable = ["active", "position"]
    list_filter = ["feedback_type", "active"]
    search_fields = ["label", "text"]
    ordering = ["feedback_type", "position", "label"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(use_count=Count("feedbacks"))

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=ReasonAdminForm, **kwargs)

    @admin.display(description="times used", ordering="use_count")
    def times_used(self, obj: Reason) -> int:
        return obj.use_count  # type: ignore[attr-defined]  # annotated by get_queryset

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

    # Every edit leaves an audit record in the same transaction (the admin wraps each save in one).
    def save_model(self, request, obj: Reason, form, change: bool) -> None:
        before = reason_values(Reason.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        action = ReasonChangeKind.CHANGED if change else ReasonChangeKind.CREATED
        record_reason_change(reason=obj, actor=request.user, action=action, before=before, after=reason_values(obj))
        self._tell_about_keys(request, obj, before)

    def _tell_about_keys(self, request, reason: Reason, before: dict | None) -> None:
        """Agents press the digits without looking: say when a save moved or freed one, or gave one out."""
        kind = reason.get_feedback_type_display().lower()
        if before is None:
            if reason.hotkey is not None and reason.active:
                messages.info(request, f"Agents pick “{reason.label}” with key {reason.hotkey} ({kind}).")
            return
        old_key = before["hotkey"] if before["active"] else None
        new_key = reason.hotkey if reason.active else None
        if old_key is None or (before["feedback_type"], old_key) == (reason.feedback_type, new_key):
            return
        now = f"now key {new_key} does" if new_key is not None else "it has no key now"
        if before["feedback_type"] != reason.feedback_type:
            now += f", as a {kind} reason"
        old_kind = FeedbackType(before["feedback_type"]).label.lower()
        messages.warning(
            request,
            f"Agents used key {old_key} to pick “{reason.label}” ({old_kind}); {now}. "
            "Tell the agents before they next send one: a habit of pressing the old digit now sends something else.",
        )

    def delete_model(self, request, obj: Reason) -> None:
        before = reason_values(obj)
        super().delete_model(request, obj)
        record_reason_change(reason=obj, actor=request.user, action=ReasonChangeKind.DELETED, before=before, after=None)

    def delete_queryset(self, request, queryset) -> None:
        reasons = list(queryset)
        super().delete_queryset(request, queryset)
        for reason in reasons:
            record_reason_change(
                reason=reason,
                actor=request.user,
                action=ReasonChangeKind.DELETED,
                before=reason_values(reason),
                after=None,
            )


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
    fields = ("created_at", "actor", "action", "from_status", "to_status", "comment")
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
class FeedbackActionAdmin(ReadOnlyAdmin):
    """The managers' audit trail: readable, never written here."""

    list_display = ["created_at", "feedback", "action", "actor", "from_status", "to_status", "comment"]
    list_filter = ["action", "created_at"]
    search_fields = ["feedback__lead__event_id", "actor__username", "comment"]
    list_select_related = ["feedback__lead", "actor"]
    date_hierarchy = "created_at"


@admin.register(ReasonChange)
class ReasonChangeAdmin(ReadOnlyAdmin):
    """Who changed the reason catalog: readable, never written here."""

    list_display = ["created_at", "reason_label", "feedback_type", "action", "actor", "changes"]
    list_filter = ["action", "feedback_type", "created_at"]
    search_fields = ["reason_label", "actor__username"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
