"""A user's permissions in one query, not two: every request asks for them (feedbackportal/roles.py)."""

from functools import cache
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection

_ANYONE = -1  # the user id the query is built with; each request's own replaces it


@cache
def _held_sql(vendor: str) -> str:
    """The query for one user's own and their groups' permissions, built once by the ORM: its building
    cost more than running it (about 2 ms a request on the development machine)."""
    # A UNION of the two, each found from the user's own rows: an OR over both joins would cross
    # every permission with every member of its groups before picking the user's (grows with the team).
    columns = ("content_type__app_label", "codename")
    own = Permission.objects.filter(user=_ANYONE).values_list(*columns).order_by()
    from_groups = Permission.objects.filter(group__user=_ANYONE).values_list(*columns).order_by()
    sql, params = own.union(from_groups).order_by().query.sql_with_params()
    if list(params) != [_ANYONE, _ANYONE]:
        raise RuntimeError(f"Unexpected parameters for the permission query: {params!r}")
    return sql


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
            if user_obj.is_superuser:
                rows = list(Permission.objects.values_list("content_type__app_label", "codename"))
            else:
                with connection.cursor() as cursor:
                    cursor.execute(_held_sql(connection.vendor), [user_obj.pk, user_obj.pk])
                    rows = cursor.fetchall()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache
