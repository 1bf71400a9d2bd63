"""Error pages that are ours: the CSRF failure page (403, 404 and 500 are plain templates)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from feedbackportal.middleware import answer_in_place


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form that cannot be trusted did nothing; say so, in the portal's layout.

    The reason is Django's technical one; it stays in the log (django.security.csrf), not on the page.
    An htmx POST (a feedback, an Undo) is answered in place instead, where the agent is looking.
    """
    if getattr(request, "htmx", False):
        return answer_in_place(request)
    return render(request, "403_csrf.html", status=403)
