"""The dialer's screen-pop: /pop/?phone=…&email=…&event_id=…&name=… opens the lead, the search or
feedback by event id."""

from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup
from django.contrib.messages import get_messages
from django.urls import reverse

from feedbackportal.leads.views import search_url

POP_URL = reverse("leads:pop")
FOR_EVENT_URL = reverse("feedback:for_event")
EVENT_ID = "5af4b98a0c1d2e3f40516273"


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def warnings(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def marisol(make_lead):
    return make_lead(
        first_name="Marisol",
        last_name="Quintero",
        phone="(512) 555-1212",
        email="marisol@example.com",
        event_id=EVENT_ID,
    )


# ---- One match opens the lead


@pytest.mark.parametrize(
    "params",
    [
        {"event_id": EVENT_ID},
        {"event_id": EVENT_ID.upper()},
        {"phone": "5125551212"},
        {"phone": "+1 (512) 555-1212"},
        {"phone": "15125551212"},
        {"email": "Marisol@Example.com"},
        {"name": "Quintero, Marisol"},
        {"name": "Marisol Quintero"},
        {"name": "Quin\x00tero"},  # a NUL, which PostgreSQL's text cannot hold, is dropped
        {"email": "marisol@example.com\x00"},
    ],
)
def test_exactly_one_match_opens_the_lead(agent_client, marisol, make_lead, params):
    make_lead(first_name="Joe", last_name="Blow", phone="(737) 444-9999", email="joe@example.com")
    response = agent_client.get(POP_URL, params)
    assert response.status_code == 302
    assert response["Location"] == marisol.get_absolute_url()
    assert warnings(response) == []


def test_the_event_id_decides_before_the_phone(agent_client, marisol, make_lead):
    other = make_lead(phone="(512) 555-1212")
    response = agent_client.get(POP_URL, {"phone": "5125551212", "event_id": other.event_id})
    assert response["Location"] == other.get_absolute_url()


def test_a_later_parameter_narrows_several_matches_to_one(agent_client, marisol, make_lead):
    make_lead(first_name="Mario", last_name="Quintero", phone="(512) 555-1212", email="mario@example.com")
    response = agent_client.get(POP_URL, {"phone": "512-555-1212", "email": "marisol@example.com"})
    assert response["Location"] == marisol.get_absolute_url()
    response = agent_client.get(POP_URL, {"phone": "512-555-1212", "name": "Marisol"})
    assert response["Location"] == marisol.get_absolute_url()


def test_a_parameter_that_matches_nothing_does_not_narrow_to_nothing(agent_client, marisol):
    response = agent_client.get(POP_URL, {"phone": "5125551212", "email": "someone.else@example.com"})
    assert response["Location"] == marisol.get_absolute_url()


def test_an_unknown_parameter_is_ignored(agent_client, marisol):
    response = agent_client.get(POP_URL, {"phone": "5125551212", "campaign": "SOLAR", "lead_id": "123"})
    assert response["Location"] == marisol.get_absolute_url()
    assert warnings(response) == []


# ---- Several open the search, filled in


def test_several_matches_open_the_search_with_the_term_filled_in(agent_client, marisol, make_lead):
    other = make_lead(first_name="Mario", last_name="Quintero", phone="512.555.1212")
    response = agent_client.get(POP_URL, {"phone": "(512) 555-1212", "name": "Quintero"})
    assert response.status_code == 302
    assert response["Location"] == search_url("(512) 555-1212")
    page = html(agent_client.get(response["Location"]))
    assert page.select_one("input[name=q]")["value"] == "(512) 555-1212"
    links = {a["href"] for a in page.select("#results a.result")}
    assert links == {marisol.get_absolute_url(), other.get_absolute_url()}


# ---- None opens feedback by event id (or the search)


def test_no_match_with_an_event_id_opens_feedback_by_event_id_filled_in(agent_client, marisol):
    unknown = "abcdef0123456789abcdef01"
    response = agent_client.get(POP_URL, {"event_id": unknown.upper(), "phone": "5125551212"})
    assert response.status_code == 302
    assert response["Location"] == f"{FOR_EVENT_URL}?{urlencode({'event_id': unknown})}"
    page = html(agent_client.get(response["Location"]))
    assert page.select_one("input[name=event_id]")["value"] == unknown


def test_no_match_without_an_event_id_opens_the_search_with_the_term(agent_client, marisol):
    response = agent_client.get(POP_URL, {"phone": "(737) 000-1111", "name": "Nobody"})
    assert response["Location"] == search_url("(737) 000-1111")
    page = html(agent_client.get(response["Location"]))
    assert "No lead matches" in page.select_one("#results .empty").get_text()


# ---- Bad parameters get a message, never a 500


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"phone": "Anonymous"}, "phone “Anonymous” has no digits"),
        ({"phone": "--A--phone_number--B--"}, "phone “--A--phone_number--B--” has no digits"),
        ({"phone": "12"}, "phone “12” has too few digits"),
        ({"phone": "1234567890123456789"}, "phone “1234567890123456789” has too many digits"),
        ({"event_id": "12345"}, "event_id “12345” is not a LeadConduit event id"),
        ({"event_id": "zz" * 12}, "is not a LeadConduit event id"),
        ({"email": "not-an-email"}, "email “not-an-email” is not an email address"),
        ({"name": "1234"}, "name “1234” has no letters"),
        ({}, "needs a phone, email, event_id or name"),
        ({"phone": "  ", "email": ""}, "needs a phone, email, event_id or name"),
    ],
)
def test_a_bad_or_missing_parameter_alone_gets_a_clear_message(agent_client, marisol, params, message):
    response = agent_client.get(POP_URL, params)
    assert response.status_code == 400
    page = html(response)
    texts = [item.get_text(strip=True) for item in page.select("main .messages li")]
    assert any(message in text for text in texts), texts
    assert page.select_one("form[role=search] input[name=q]") is not None


def test_a_bad_parameter_beside_a_good_one_is_left_out_with_a_message(agent_client, marisol):
    response = agent_client.get(POP_URL, {"phone": "Restricted", "event_id": EVENT_ID})
    assert response["Location"] == marisol.get_absolute_url()
    page = html(agent_client.get(response["Location"]))
    texts = [item.get_text(strip=True) for item in page.select("main .messages li")]
    assert texts == ["phone “Restricted” has no digits (the dialer sent no caller number); it was left out."]


def test_the_messages_are_a_list_inside_a_live_region(agent_client):
    # role=status on the <ul> itself would unmake the list its items belong to (axe: listitem, serious).
    page = html(agent_client.get(POP_URL, {"phone": "Anonymous"}))
    messages = page.select_one("main .messages")
    assert messages is not None
    assert messages.name == "ul"
    assert not messages.has_attr("role")
    assert messages.find_parent(attrs={"role": "status"}) is not None


def test_a_hostile_parameter_is_shown_escaped(agent_client):
    response = agent_client.get(POP_URL, {"name": "<script>1</script>", "phone": "<b>"})
    page = html(response)
    assert page.select("main script") == []
    assert page.select("main .messages b") == []


# ---- Login


def test_the_screen_pop_needs_a_login_and_the_login_returns_to_it(client, agent, marisol):
    pop = f"{POP_URL}?{urlencode({'phone': '512-555-1212', 'event_id': EVENT_ID})}"
    response = client.get(pop)
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith(reverse("login") + "?next=")
    page = html(client.get(login_url))
    assert page.select_one("input[name=next]")["value"] == pop
    response = client.post(login_url, {"username": "agent1", "password": "pw", "next": pop})
    assert response["Location"] == pop
    assert client.get(pop)["Location"] == marisol.get_absolute_url()
