"""The login page for someone already signed in."""

import pytest
from django.test import Client
from django.urls import reverse

LOGIN = "/accounts/login/"


@pytest.fixture
def signed_in(agent) -> Client:
    client = Client(raise_request_exception=False)  # a view's exception answers 500, as in production
    client.force_login(agent)
    return client


@pytest.mark.parametrize(
    "next_url",
    [LOGIN, f"{LOGIN}?next={LOGIN}", "http://testserver/accounts/login/"],
)
def test_a_signed_in_user_sent_back_to_the_login_page_goes_home(signed_in, next_url):
    response = signed_in.get(LOGIN, {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:search")


def test_a_signed_in_user_goes_where_next_says(signed_in, make_lead):
    lead = make_lead()
    response = signed_in.get(LOGIN, {"next": lead.get_absolute_url()})
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()


def test_signing_in_with_next_naming_the_login_page_goes_home(db, agent):
    response = Client().post(f"{LOGIN}?next={LOGIN}", {"username": "agent1", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:search")
