"""An htmx request that lost its session or its CSRF token answers in place, and says nothing was sent."""

import uuid

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from feedbackportal.feedback.models import Feedback

SIGNED_OUT = "You were signed out — nothing was sent."
OUT_OF_DATE = "This page was out of date — nothing was sent."


def post_return(client: Client, lead, reason, **headers):
    data = {"feedback_type": "return", "reason": reason.pk, "idempotency_key": str(uuid.uuid4())}
    return client.post(reverse("feedback:create", kwargs={"lead_pk": lead.pk}), data, **headers)


def htmx_from(page_url: str) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{page_url}"}


def answer(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def test_an_htmx_post_without_a_session_answers_in_the_form_and_signs_in_back_to_the_lead_page(
    client, make_lead, return_reason
):
    lead = make_lead()

    response = post_return(client, lead, return_reason, **htmx_from(lead.get_absolute_url()))

    assert response.status_code == 200  # htmx swaps only a 2xx answer
    assert response["HX-Retarget"] == "#session-alert"
    assert response["HX-Reswap"] == "innerHTML"
    assert "HX-Redirect" not in response
    page = answer(response)
    assert page.get_text(" ", strip=True).startswith(SIGNED_OUT)
    assert page.select_one("a")["href"] == f"{reverse('login')}?next={lead.get_absolute_url()}"
    assert not Feedback.objects.exists()


def test_signing_in_from_that_link_opens_the_lead_page_with_a_get(client, agent, make_lead, return_reason):
    lead = make_lead()
    link = answer(post_return(client, lead, return_reason, **htmx_from(lead.get_absolute_url()))).select_one("a")

    response = client.post(link["href"], {"username": agent.username, "password": "pw"}, follow=True)

    assert response.redirect_chain[-1] == (lead.get_absolute_url(), 302)
    assert response.status_code == 200
    assert response.request["REQUEST_METHOD"] == "GET"


def test_a_page_url_of_another_site_is_not_used_to_come_back(client, make_lead, return_reason):
    lead = make_lead()
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "https://evil.example/leads/1/"}

    link = answer(post_return(client, lead, return_reason, **headers)).select_one("a")

    assert link["href"] == reverse("login")


@pytest.fixture
def csrf_client(agent) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


def test_an_htmx_post_with_a_stale_csrf_token_asks_for_a_reload_in_place(csrf_client, make_lead, return_reason):
    lead = make_lead()
    csrf_client.get(lead.get_absolute_url())  # the cookie is set; the post's token is stale (another tab signed in)

    response = post_return(
        csrf_client, lead, return_reason, HTTP_X_CSRFTOKEN="x" * 64, **htmx_from(lead.get_absolute_url())
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#session-alert"
    page = answer(response)
    assert page.get_text(" ", strip=True).startswith(OUT_OF_DATE)
    assert page.select_one("a")["href"] == lead.get_absolute_url()
    assert not Feedback.objects.exists()


def test_an_htmx_post_with_no_cookies_at_all_says_signed_out(make_lead, return_reason):
    lead = make_lead()
    client = Client(enforce_csrf_checks=True)  # no session, no CSRF cookie: the CSRF check refuses first

    response = post_return(client, lead, return_reason, **htmx_from(lead.get_absolute_url()))

    assert response.status_code == 200
    assert answer(response).get_text(" ", strip=True).startswith(SIGNED_OUT)
    assert not Feedback.objects.exists()


def test_a_plain_post_without_the_token_is_still_refused_with_a_403(csrf_client, make_lead, return_reason):
    response = post_return(csrf_client, make_lead(), return_reason)

    assert response.status_code == 403
    assert "HX-Retarget" not in response


def test_a_forbidden_htmx_post_past_the_csrf_check_is_left_alone(agent_client, make_lead, return_reason):
    feedback = Feedback.objects.create(lead=make_lead(), feedback_type="return", reason=return_reason, status="failed")

    response = agent_client.post(
        reverse("feedback:resend", kwargs={"pk": feedback.pk}), {"comment": "x"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 403  # an agent may not resolve: a permission answer, not a lost session
    assert "HX-Retarget" not in response


def test_an_htmx_poll_without_a_session_sends_the_page_to_sign_in_and_back_to_the_page(client, make_lead):
    lead = make_lead()
    feedback = Feedback.objects.create(lead=lead, feedback_type="conversion")

    response = client.get(reverse("feedback:status", kwargs={"pk": feedback.pk}), **htmx_from(lead.get_absolute_url()))

    assert response["HX-Redirect"] == f"{reverse('login')}?next={lead.get_absolute_url()}"


def test_an_undo_without_a_session_says_it_was_not_undone(client, agent, make_lead, return_reason):
    # An undo that did not happen must not read "nothing was sent": the feedback goes out when its window ends.
    lead = make_lead()
    feedback = Feedback.objects.create(lead=lead, feedback_type="return", reason=return_reason, agent=agent)

    response = client.post(reverse("feedback:undo", kwargs={"pk": feedback.pk}), **htmx_from(lead.get_absolute_url()))

    assert response["HX-Retarget"] == "#session-alert"
    text = answer(response).get_text(" ", strip=True)
    assert text.startswith("You were signed out — it was not undone, and it is sent when its window ends.")
    assert "nothing was sent" not in text
    feedback.refresh_from_db()
    assert feedback.status == "queued"


def test_the_lead_page_has_the_alert_the_answer_goes_to_even_with_nothing_left_to_send(
    agent_client, make_lead, return_reason, conversion_reason
):
    lead = make_lead()
    Feedback.objects.create(lead=lead, feedback_type="return", reason=return_reason)
    Feedback.objects.create(lead=lead, feedback_type="conversion", reason=conversion_reason)

    page = answer(agent_client.get(lead.get_absolute_url()))

    assert page.select_one("form.feedback-form") is None
    assert page.select_one("#feedback-panel #session-alert[role=alert]") is not None
