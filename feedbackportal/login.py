from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.http import HttpRequest


class LoginView(auth_views.LoginView):
    """Django's login view; a ``next`` naming the login page itself counts as no ``next`` at all.

    Django refuses to send a signed-in user from the login page to the login page with a
    ValueError, a 500 in production: such a link (a stale bookmark, a crafted URL) goes home instead.
    """

    redirect_authenticated_user = True

    def get_redirect_url(self, request: HttpRequest | None = None) -> str:
        url: str = super().get_redirect_url(request)
        if url and urlsplit(url).path == (request or self.request).path:
            return ""
        return url
