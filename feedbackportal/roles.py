"""Default deny: every portal page needs a role, not only a login.

A signed-in user reaches a view only with ``feedback.use_desk`` (held by the Agent, Manager and Admin
roles), unless the view is public (``login_not_required``), marked ``role_not_required`` (logging
out) or belongs to the Django admin, which lets in staff only and checks each model's permissions
itself. Managers' and admins' pages add their own permission on top.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from feedbackportal.people import display_name

AGENT_PERMISSION = "feedback.use_desk"
ROLES = ("Agent", "Manager", "Admin")
ADMIN_ROLE = "Admin"
MAX_ADMINS_NAMED = 5


def role_not_required[V: Callable[..., Any]](view: V) -> V:
    """Mark a view any signed-in user may use, with or without a role (logging out)."""
    view.role_required = False  # type: ignore[attr-defined]
    return view


def admins_to_ask() -> list[str]:
    """The names of a few active portal admins, for a user who needs a role."""
    admins = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=ADMIN_ROLE)
        .order_by("first_name", "last_name", "username")
        .distinct()[:MAX_ADMINS_NAMED]
    )
    return [display_name(user) for user in admins]


def no_role(request: HttpRequest) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    page = htmx.current_url_abs_path if htmx else None
    if page:
        # htmx swaps no 4xx: a status poll or an Undo would just stop, unexplained. The whole page
        # is loaded again instead, and it says why.
        return HttpResponseClientRedirect(page)
    return render(request, "403.html", {"no_role": True, "admins": admins_to_ask()}, status=403)


class RoleRequiredMiddleware:
    """After LoginRequiredMiddleware: a signed-in user without the agent permission gets the no-role page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True) or not getattr(view_func, "role_required", True):
            return None
        if request.resolver_match is not None and "admin" in request.resolver_match.namespaces:
            return None
        if not request.user.is_authenticated or request.user.has_perm(AGENT_PERMISSION):
            return None
        return no_role(request)
