"""A user's permissions in one query, not two: every request asks for them (feedbackportal/roles.py)."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryPermissions(ModelBackend):
    """Answers permission checks only, listed before Django's ModelBackend (which still signs users in,
    so sessions keep naming it). Reads a user's own and their groups' permissions in one query where
    ModelBackend takes two, into the cache ModelBackend reads too, so asking it afterwards costs nothing.

    The role check runs on every request, htmx partials included, so the round trip is saved on every
    one. As with ModelBackend: inactive and anonymous users have none, a superuser all; no per-object
    permissions.
    """

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any):
        return None  # signing in is ModelBackend's

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            held = Permission.objects.all()
            if not user_obj.is_superuser:
                held = held.filter(Q(user=user_obj) | Q(group__user=user_obj))
            rows = held.values_list("content_type__app_label", "codename").order_by().distinct()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache
