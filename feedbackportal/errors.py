"""Error pages that are ours: the CSRF failure page (403, 404 and 500 are plain templates)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form that cannot be trusted did nothing; say so, in the portal's layout.

    The reason is Django's technical one; it stays in the log (django.security.csrf), not on the page.
    """
    return render(request, "403_csrf.html", status=403)
