"""Request types for views: htmx's headers (set by django_htmx's middleware) and a signed-in user."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedHttpRequest(HtmxHttpRequest):
    """A request past the login requirement (every view but the few marked login_not_required)."""

    user: User
