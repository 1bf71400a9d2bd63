"""Error pages: 403, 404, 500 and a failed CSRF check, in the portal's layout with a way back."""

import pytest
from bs4 import BeautifulSoup
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.views.defaults import server_error

from feedbackportal.feedback.models import Feedback
from feedbackportal.urls import urlpatterns as portal_urlpatterns
from tests.helpers import logged_in, member


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("something broke")


urlpatterns = [path("boom/", boom), *portal_urlpatterns]


def page_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def main_text(response) -> str:
    main = page_of(response).select_one("main")
    assert main is not None
    return " ".join(main.get_text(" ").split())


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    return settings


@pytest.fixture
def agent_client(db) -> Client:
    return logged_in(member("agent7", "Agent"))


def test_an_unknown_page_is_a_styled_404_with_a_way_back(production, agent_client):
    response = agent_client.get("/no-such-page/")
    assert response.status_code == 404
    page = page_of(response)
    assert page.select_one("header.topbar nav") is not None  # the portal's layout, signed in
    assert "Page not found" in main_text(response)
    assert page.select_one(f"main a[href='{reverse('leads:search')}']") is not None


def test_a_missing_lead_is_a_styled_404(production, agent_client):
    response = agent_client.get(reverse("leads:detail", kwargs={"pk": 999999}))
    assert response.status_code == 404
    assert "Page not found" in main_text(response)


def test_an_anonymous_visitor_gets_the_404_page_too(production, db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in main_text(response)


def test_a_page_for_another_role_is_a_styled_403_with_a_way_back(production, agent_client):
    response = agent_client.get(reverse("reports:history"))
    assert response.status_code == 403
    page = page_of(response)
    assert page.select_one("header.topbar nav") is not None
    assert "not for your role" in main_text(response)
    assert page.select_one(f"main a[href='{reverse('leads:search')}']") is not None


@pytest.mark.urls(__name__)
def test_a_server_error_is_a_styled_500_with_a_way_back(production, agent_client):
    agent_client.raise_request_exception = False
    response = agent_client.get("/boom/")
    assert response.status_code == 500
    page = page_of(response)
    assert page.select_one("header.topbar") is not None
    assert page.select_one("link[rel=stylesheet]")["href"].endswith("css/portal.css")
    assert "Something went wrong" in main_text(response)
    assert page.select_one("main a[href='/']") is not None


def test_the_500_page_needs_neither_the_database_nor_a_request_context(production, django_db_blocker):
    with django_db_blocker.block():
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in main_text(response)


def test_a_form_failing_the_csrf_check_is_a_styled_page_saying_nothing_was_sent(production, make_lead, return_reason):
    client = logged_in(member("agent7", "Agent"))
    client.handler.enforce_csrf_checks = True
    lead = make_lead()
    response = client.post(
        reverse("feedback:create", kwargs={"lead_pk": lead.pk}),
        {"feedback_type": "return", "reason": return_reason.pk},
    )
    assert response.status_code == 403
    page = page_of(response)
    assert page.select_one("header.topbar nav") is not None
    assert "nothing was sent" in main_text(response)
    assert page.select_one(f"main a[href='{reverse('leads:search')}']") is not None
    assert not Feedback.objects.exists()


def test_a_failed_csrf_check_on_the_login_form_offers_to_log_in_again(production, db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "nothing was sent" in main_text(response)
    assert page_of(response).select_one(f"main a[href='{reverse('login')}']") is not None
