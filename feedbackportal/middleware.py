from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_cache_control
from django.utils.html import format_html
from django_htmx.http import HttpResponseClientRedirect

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
# Where an htmx POST's in-place answer goes: the lead page's feedback panel has one, form or not.
SESSION_ALERT = "#session-alert"


class HtmxLoginRedirectMiddleware:
    """What an htmx request that lost its session gets instead of a dead end.

    A GET (a status poll) sends the whole page to the login form, which returns to that page: htmx
    would otherwise swap the login page into the fragment that asked. A POST (a feedback) answers
    in place, in the page's ``#session-alert``: nothing was sent, and the form keeps the agent's
    choice; signing in returns to the page (a GET), never to the POST's URL (405). A failed CSRF
    check is answered the same way by its own view (``errors.csrf_failure``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx:
            return response
        login_url = resolve_url(settings.LOGIN_URL)
        if not (response.status_code == 302 and response.get("Location", "").startswith(login_url)):
            return response
        if request.method in SAFE_METHODS:
            page = htmx.current_url_abs_path  # None unless the page is on this site
            return HttpResponseClientRedirect(_login_url(login_url, page or request.get_full_path()))
        return answer_in_place(request)


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


def answer_in_place(request: HttpRequest) -> HttpResponse:
    """An htmx POST that lost its session (here) or failed its CSRF check (errors.csrf_failure):
    what did not happen, said in the page's ``#session-alert``, with the way back to the page."""
    login_url = resolve_url(settings.LOGIN_URL)
    htmx = getattr(request, "htmx", None)
    page = htmx.current_url_abs_path if htmx else None  # None unless the page is on this site
    match = request.resolver_match
    if match is not None and match.view_name == "feedback:undo":
        # Not "nothing was sent": the undo did not happen, so the feedback goes out when its window ends.
        what = "it was not undone, and it is sent when its window ends"
    else:
        what = "nothing was sent"
    if request.user.is_authenticated:
        # Signed in, with a stale token: usually a sign-in in another tab, which renews it.
        body = format_html(
            '<p><strong>This page was out of date — {}.</strong> <a href="{}">Reload the page</a>, then try again.</p>',
            what,
            page or resolve_url(settings.LOGIN_REDIRECT_URL),
        )
    else:
        body = format_html(
            '<p><strong>You were signed out — {}.</strong> <a href="{}">Sign in again</a>; '
            "you come back to this page.</p>",
            what,
            _login_url(login_url, page),
        )
    response = HttpResponse(body)
    response["HX-Retarget"] = SESSION_ALERT
    response["HX-Reswap"] = "innerHTML"
    return response


def _login_url(login_url: str, next_url: str | None) -> str:
    return f"{login_url}?{urlencode({'next': next_url}, safe='/')}" if next_url else login_url
