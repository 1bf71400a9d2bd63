"""PrivateResponsesMiddleware: what a signed-in user is sent stays out of caches."""

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.cache import patch_cache_control

from feedbackportal.middleware import PrivateResponsesMiddleware


def cached_publicly(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("lead data")
    patch_cache_control(response, public=True, max_age=600)
    return response


def directives(response: HttpResponse) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_it_makes_a_signed_in_users_response_private_and_unstored_whatever_the_view_said():
    request = RequestFactory().get("/")
    request.user = User(username="someone")
    response = PrivateResponsesMiddleware(cached_publicly)(request)
    assert directives(response) == {"private", "no-store", "max-age=600"}


def test_it_leaves_an_anonymous_response_as_the_view_made_it():
    request = RequestFactory().get("/health/")
    request.user = AnonymousUser()
    response = PrivateResponsesMiddleware(cached_publicly)(request)
    assert directives(response) == {"public", "max-age=600"}
