from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """When a session expires during an htmx request, send the whole page to the login form.

    Without this htmx would swap the login page into whatever fragment asked (a status row).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "htmx", False) and response.status_code == 302:
            location = response.get("Location", "")
            if location.startswith(resolve_url(settings.LOGIN_URL)):
                return HttpResponseClientRedirect(location)
        return response


class PrivateResponsesMiddleware:
    """Whatever a signed-in user is sent may hold lead data: no shared cache keeps it, no browser stores it.

    Added to any Cache-Control a view set, so no page can forget it (lead page, search, history,
    CSV exports, imports, the queue, the admin).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
