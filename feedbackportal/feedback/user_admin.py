"""Users in the Django admin: superusers keep Django's full form; an Admin-role user manages people
within the three roles and can never raise anyone (itself included) above them.

An Admin can create users, put them in Agent, Manager or Admin, reset passwords and deactivate
users. It never sees or sets ``is_superuser``, ``is_staff`` (which follows the Admin role, see
signals.py), ``user_permissions`` or any other group, and cannot change, reset or delete a superuser.
Fields left out of a ModelForm are not saved whatever a POST carries, and the groups field only
accepts the three roles.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import ManyToManyField
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest

from feedbackportal.roles import ROLES

ROLE_HELP = (
    "Agent: find leads, return or convert them. Manager: also Needs attention, Reports and Imports. "
    "Admin: also this admin (reasons, sources, leads, users)."
)


class RoleUserAdmin(UserAdmin):
    role_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role", {"fields": ("is_active", "groups")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    role_add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        ("Role", {"fields": ("first_name", "last_name", "email", "groups")}),
    )
    list_display = ("username", "first_name", "last_name", "roles", "is_active", "is_superuser")

    @admin.display(description="roles")
    def roles(self, obj: User) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all()))

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.role_add_fieldsets if obj is None else self.role_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser or obj is None:
            return super().get_readonly_fields(request, obj)
        return [*super().get_readonly_fields(request, obj), "last_login", "date_joined"]

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES).order_by("name")
            kwargs["help_text"] = ROLE_HELP
        field: ModelMultipleChoiceField | None = super().formfield_for_manytomany(db_field, request, **kwargs)
        return field

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The groups field only offers the roles; groups a superuser gave outside them stay as they were.
        kept = [] if request.user.is_superuser or not change else list(form.instance.groups.exclude(name__in=ROLES))
        super().save_related(request, form, formsets, change)
        if kept:
            form.instance.groups.add(*kept)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, RoleUserAdmin)
