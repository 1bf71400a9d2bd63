"""The delivery webhook: LeadConduit's generic delivery step posts each lead, with its event id, here."""

import base64
import json
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from feedbackportal.leads.models import Lead, Source
from tests.conftest import new_event_id
from tests.intake.conftest import TOKEN

AUTH = {"HTTP_X_INTAKE_TOKEN": TOKEN}
JSON = "application/json; charset=utf-8"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
# What LeadConduit's generic delivery sends as Accept.
ACCEPT = {"HTTP_ACCEPT": "application/json;q=0.9,text/xml;q=0.8,application/xml;q=0.7,text/html;q=0.6,text/plain;q=0.5"}
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<lead><event_id>&lol3;</event_id></lead>"
)


def url(source: Source) -> str:
    return reverse("leads:intake", kwargs={"slug": source.slug})


def lead_fields(event_id: str, **extra) -> dict:
    return {
        "event_id": event_id,
        "first_name": "Joe",
        "last_name": "Blow",
        "email": "Joe.Blow@Example.com",
        "phone_1": "(512) 555-1212",
        "address_1": "4 Oak St",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
    } | extra


def post(client, source, body: str | bytes, content_type: str, **headers):
    # generic(): the body goes out byte for byte, whatever charset the Content-Type names.
    return client.generic("POST", url(source), body, content_type=content_type, **(AUTH | ACCEPT | headers))


def refused(response, status: int, words: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    reply = response.json()
    assert reply["outcome"] == "failure"
    assert words in reply["reason"]


def assert_stored(event_id: str, source: Source) -> Lead:
    lead = Lead.objects.get(event_id=event_id)
    assert (lead.first_name, lead.last_name, lead.email) == ("Joe", "Blow", "joe.blow@example.com")
    assert (lead.phone, lead.phone_digits) == ("(512) 555-1212", "5125551212")
    assert (lead.address, lead.city, lead.state, lead.postal_code) == ("4 Oak St", "Austin", "TX", "78701")
    assert (lead.source, lead.source_name) == (source, source.name)
    return lead


# ---- Each body format LeadConduit's generic delivery sends


def test_it_stores_a_json_delivery_and_answers_success(client, source):
    event_id = new_event_id()
    response = post(client, source, json.dumps(lead_fields(event_id)), JSON)
    assert response.status_code == 201
    assert response.json() == {"outcome": "success", "lead_id": Lead.objects.get().pk, "created": True}
    lead = assert_stored(event_id, source)
    assert lead.raw_payload == lead_fields(event_id)


def test_it_stores_a_form_delivery(client, source):
    event_id = new_event_id()
    response = post(client, source, urlencode(lead_fields(event_id)), FORM)
    assert response.status_code == 201
    assert response.json()["outcome"] == "success"
    assert assert_stored(event_id, source).raw_payload["event_id"] == event_id


@pytest.mark.parametrize("content_type", ["text/xml", "application/xml; charset=utf-8"])
def test_it_stores_an_xml_delivery(client, source, content_type):
    event_id = new_event_id()
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in lead_fields(event_id).items())
    body = f'<?xml version="1.0" encoding="UTF-8"?><lead>{inner}</lead>'
    response = post(client, source, body.encode(), content_type)
    assert response.status_code == 201
    assert assert_stored(event_id, source).raw_payload["city"] == "Austin"


def test_an_upper_case_event_id_is_stored_lower_case(client, source):
    event_id = new_event_id()
    response = post(client, source, json.dumps(lead_fields(event_id.upper())), JSON)
    assert response.status_code == 201
    assert Lead.objects.get().event_id == event_id


# ---- Authentication by the source's token


def test_it_takes_the_token_as_the_http_basic_password(client, source):
    credentials = base64.b64encode(f"leadconduit:{TOKEN}".encode()).decode()
    response = client.post(
        url(source),
        json.dumps(lead_fields(new_event_id())),
        content_type=JSON,
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert response.status_code == 201


def test_it_takes_the_token_as_a_bearer_token(client, source):
    response = client.post(
        url(source),
        json.dumps(lead_fields(new_event_id())),
        content_type=JSON,
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_INTAKE_TOKEN": "wrong"},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"leadconduit:wrong").decode()},
        {"HTTP_AUTHORIZATION": "Basic not-base64!!"},
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
    ],
    ids=["none", "wrong header", "wrong basic", "garbled basic", "wrong bearer"],
)
def test_it_refuses_a_delivery_without_the_right_token(client, source, headers):
    response = client.post(url(source), json.dumps(lead_fields(new_event_id())), content_type=JSON, **headers)
    refused(response, 401, "token")
    assert response["WWW-Authenticate"].startswith("Basic")
    assert not Lead.objects.exists()


def test_a_token_of_another_source_does_not_open_this_one(client, source):
    other = Source.objects.create(name="Other", slug="other", intake_token="other-token")
    response = client.post(
        url(source), json.dumps(lead_fields(new_event_id())), content_type=JSON, HTTP_X_INTAKE_TOKEN=other.intake_token
    )
    refused(response, 401, "token")


def test_an_unknown_source_answers_as_a_wrong_token_does(client, source):
    # Nothing tells a prober which source slugs exist.
    unknown = client.post("/intake/nobody/", "{}", content_type=JSON, **AUTH)
    wrong = client.post(url(source), "{}", content_type=JSON, HTTP_X_INTAKE_TOKEN="wrong")

    refused(unknown, 401, "token")
    assert (unknown.status_code, unknown.content, unknown.get("WWW-Authenticate")) == (
        wrong.status_code,
        wrong.content,
        wrong.get("WWW-Authenticate"),
    )


def test_an_inactive_source_is_refused(client, source):
    Source.objects.filter(pk=source.pk).update(active=False)
    response = post(client, source, json.dumps(lead_fields(new_event_id())), JSON)
    refused(response, 403, "switched off")
    assert not Lead.objects.exists()


def test_it_needs_no_login_and_no_csrf_token(source):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, source, json.dumps(lead_fields(new_event_id())), JSON)
    assert response.status_code == 201


def test_only_post_is_accepted(client, source):
    response = client.get(url(source), **AUTH)
    assert response.status_code == 405


# ---- Idempotent on the event id


def test_a_redelivery_updates_the_lead_and_never_duplicates_it(client, source):
    event_id = new_event_id()
    post(client, source, json.dumps(lead_fields(event_id)), JSON)
    again = lead_fields(event_id, email="joe@newmail.com", phone_1="", city="Round Rock")
    response = post(client, source, urlencode(again), FORM)
    assert response.status_code == 200
    assert response.json()["created"] is False
    lead = Lead.objects.get()
    assert (lead.email, lead.city) == ("joe@newmail.com", "Round Rock")
    assert lead.phone == "(512) 555-1212"  # an empty value never blanks what we have
    assert lead.raw_payload == again


def test_a_delivery_fills_in_a_lead_first_known_only_by_its_event_id(client, source, make_lead):
    placeholder = Lead.objects.create(event_id=new_event_id())
    response = post(client, source, json.dumps(lead_fields(placeholder.event_id)), JSON)
    assert response.status_code == 200
    assert_stored(placeholder.event_id, source)
    assert Lead.objects.count() == 1


def test_an_event_id_of_another_sources_lead_is_refused_and_left_alone(client, source):
    other = Source.objects.create(name="Other", slug="other")
    lead = Lead.objects.create(event_id=new_event_id(), first_name="Ann", source=other)
    response = post(client, source, json.dumps(lead_fields(lead.event_id)), JSON)
    refused(response, 409, "another source")
    lead.refresh_from_db()
    assert (lead.first_name, lead.source) == ("Ann", other)


# ---- The source's field mapping


def test_the_source_mapping_names_the_incoming_parameters(client, source):
    source.field_mapping = {"event_id": "lc_event", "phone": "mobile", "email": "contact.email"}
    source.save()
    event_id = new_event_id()
    body = {"lc_event": event_id, "first_name": "Joe", "mobile": "512-555-0199", "contact": {"email": "J@X.com"}}
    response = post(client, source, json.dumps(body), JSON)
    assert response.status_code == 201
    lead = Lead.objects.get(event_id=event_id)
    assert (lead.first_name, lead.phone_digits, lead.email) == ("Joe", "5125550199", "j@x.com")


def test_without_its_mapped_parameter_the_event_id_is_missing(client, source):
    source.field_mapping = {"event_id": "lc_event"}
    source.save()
    response = post(client, source, json.dumps(lead_fields(new_event_id())), JSON)
    refused(response, 400, "'lc_event'")


def test_values_too_long_for_a_column_are_cut_not_refused(client, source):
    event_id = new_event_id()
    response = post(client, source, json.dumps(lead_fields(event_id, city="X" * 5000, postal_code=78701)), JSON)
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (len(lead.city), lead.postal_code) == (100, "78701")


def test_control_characters_and_nul_are_cleaned_before_storing(client, source):
    event_id = new_event_id()
    body = json.dumps(lead_fields(event_id, first_name="Jo\u0000e", note="a\x07b\ud800")).encode()
    response = post(client, source, body, JSON)
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert lead.first_name == "Joe"
    assert lead.raw_payload["note"] == "ab?"


# ---- Bad and hostile input: a clear 4xx, nothing stored


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b'{"event_id": "5af4b98aa8065fa3a79bf4b3",', JSON, 400, "not valid JSON"),
        (b"[1, 2, 3]", JSON, 400, "must be an object"),
        (b'"just a string"', JSON, 400, "must be an object"),
        (b"\xff\xfe\x00garbage", JSON, 400, "not valid JSON"),
        (b'{"event_id": NaN}', JSON, 400, "not valid JSON"),
        (b'{"event_id": 1e999}', JSON, 400, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400, "JSON"),
        (b'{"a":' * 50 + b"1" + b"}" * 50, JSON, 400, "nested deeper"),
        (b"", JSON, 400, "empty"),
        (b"<lead><event_id>5af4b98aa8065fa3a79bf4b3</event_id>", "text/xml", 400, "not valid XML"),
        (BOMB, "text/xml", 400, "XML refused"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><lead><event_id>&e;</event_id></lead>',
            "application/xml",
            400,
            "XML refused",
        ),
        (b"event_id=%ZZ&first_name=\xff", "application/x-www-form-urlencoded; charset=utf-8", 400, "utf-8"),
        (b"event_id=x", "application/x-www-form-urlencoded; charset=no-such-charset", 400, "no-such-charset"),
        (b"event_id: 5af4b98aa8065fa3a79bf4b3", "text/plain", 415, "Unsupported Content-Type"),
        (b"event_id=5af4b98aa8065fa3a79bf4b3", "", 415, "Unsupported Content-Type"),
    ],
    ids=[
        "truncated json",
        "json array",
        "json string",
        "json not utf-8",
        "json NaN",
        "json infinite number",
        "json nested past the recursion limit",
        "json nested too deep to store",
        "empty body",
        "truncated xml",
        "xml entity bomb",
        "xml external entity",
        "form not utf-8",
        "form unknown charset",
        "text/plain",
        "no content type",
    ],
)
def test_a_malformed_or_hostile_body_gets_a_clear_4xx_and_stores_nothing(
    client, source, body, content_type, status, words
):
    response = post(client, source, body, content_type)
    refused(response, status, words)
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"first_name": "Joe"}, "Missing event id"),
        ({"event_id": ""}, "Missing event id"),
        ({"event_id": {"id": "5af4b98aa8065fa3a79bf4b3"}}, "Missing event id"),
        ({"event_id": "5af4b98aa8065fa3a79bf4b"}, "Malformed event id"),
        ({"event_id": "5af4b98aa8065fa3a79bf4bz"}, "Malformed event id"),
        ({"event_id": "5af4b98aa8065fa3a79bf4b3 OR 1=1"}, "Malformed event id"),
        ({"event_id": 12345}, "Malformed event id"),
    ],
    ids=["absent", "empty", "an object", "23 characters", "not hex", "injection", "a number"],
)
def test_a_missing_or_malformed_event_id_is_refused(client, source, fields, words):
    response = post(client, source, json.dumps(fields), JSON)
    refused(response, 400, words)
    assert not Lead.objects.exists()


def test_a_body_over_one_mebibyte_is_refused_before_it_is_read(client, source):
    body = json.dumps(lead_fields(new_event_id(), padding="x" * (1024 * 1024)))
    response = post(client, source, body, JSON)
    refused(response, 413, "over 1048576 bytes")
    assert not Lead.objects.exists()


def test_too_many_form_fields_are_refused(client, source):
    body = "&".join(f"f{n}=1" for n in range(5000)) + f"&event_id={new_event_id()}"
    response = post(client, source, body, FORM)
    refused(response, 400, "form body")
    assert not Lead.objects.exists()
