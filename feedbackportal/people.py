"""How the portal names a person: one way, in Python and in every template (the ``person`` filter)."""

from django import template
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

register = template.Library()


def display_name(user: AbstractBaseUser | AnonymousUser) -> str:
    """Full name if the user has one, else the username."""
    full_name = getattr(user, "get_full_name", lambda: "")()
    return full_name or user.get_username()


@register.filter
def person(user: AbstractBaseUser | AnonymousUser | None) -> str:
    """``{{ feedback.agent|person }}``: the display name, or "—" for nobody."""
    return "—" if user is None else display_name(user)
