"""The sandbox through Django's test client: LeadConduit's feedback endpoint as the reference describes it."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from feedbackportal.sandbox.models import SandboxCall

URL = "/sandbox/feedback"
NOT_ACCEPTABLE = "Not capable of generating content according to the Accept header"
UNSUPPORTED = (
    "MIME type in Content-Type header is not supported. Use only "
    "application/x-www-form-urlencoded, application/json, application/xml, text/xml."
)
LEADCONDUIT_ACCEPT = "application/json;q=0.9,text/xml;q=0.8,application/xml;q=0.7,text/html;q=0.6,text/plain;q=0.5"

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(make_event):
    return make_event(first_name="Joe", last_name="Blow", email="Joe.Blow@Example.COM", phone_1="(512) 555-1212")


def post(client, event_id: str, body: bytes | str, content_type: str, accept: str | None = None, **query):
    # generic() sends the bytes as given (post() would re-encode them) and, with CONTENT_TYPE, an empty body too.
    headers = {"Accept": accept} if accept is not None else {}
    return client.generic(
        "POST",
        URL,
        body,
        headers=headers,
        query_params={"event_id": event_id, **query},
        CONTENT_TYPE=content_type,
    )


def post_json(client, event_id: str, fields: dict, accept: str | None = None):
    return post(client, event_id, json.dumps(fields), "application/json", accept)


def lead_of(event) -> dict:
    return {
        "id": event.lead_id,
        "first_name": "Joe",
        "last_name": "Blow",
        "email": "joe.blow@example.com",
        "phone_1": "5125551212",
    }


def text_of(response) -> str:
    assert response["Content-Type"] == "text/plain"
    return response.content.decode()


# Request bodies


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"type": "return", "reason": "Wrong number"}'),
        ("application/json; charset=utf-8", '{"type": "return", "reason": "Wrong number"}'),
        ("Application/JSON;charset=UTF-8", '{"type": "return", "reason": "Wrong number"}'),
        ("text/xml", "<feedback><type>return</type><reason>Wrong number</reason></feedback>"),
        (
            "text/xml; charset=utf-8",
            '<?xml version="1.0"?><feedback><type>return</type><reason>Wrong number</reason></feedback>',
        ),
        ("application/xml", "<feedback><type>return</type><reason>Wrong number</reason></feedback>"),
        ("application/x-www-form-urlencoded", "type=return&reason=Wrong+number"),
        ("application/x-www-form-urlencoded; charset=utf-8", "type=return&reason=Wrong%20number"),
    ],
)
def test_it_reads_every_documented_body_format(client, make_event, content_type, body):
    # An allowed-reasons list makes success prove the reason was read exactly.
    event = make_event(allowed_reasons="Wrong number")
    response = post(client, event.event_id, body, content_type)
    assert response.status_code == 201
    assert response.json()["outcome"] == "success"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json; charset=utf-8", '{"type": "return", "reason": "Número 電話"}'.encode()),
        ("application/json; charset=utf-16", '{"type": "return", "reason": "Número 電話"}'.encode("utf-16")),
        ("text/xml", "<feedback><type>return</type><reason>Número 電話</reason></feedback>".encode()),
        (
            "application/x-www-form-urlencoded",
            b"type=return&reason=N%C3%BAmero+%E9%9B%BB%E8%A9%B1",
        ),
    ],
)
def test_it_reads_unicode_reasons(client, make_event, content_type, body):
    event = make_event(allowed_reasons="Número 電話")
    response = post(client, event.event_id, body, content_type)
    assert response.json()["outcome"] == "success"


def test_it_decodes_a_form_body_in_the_charset_it_declares(client, make_event):
    event = make_event(allowed_reasons="Número")
    body = b"type=return&reason=N%FAmero"  # latin-1
    declared = post(client, event.event_id, body, "application/x-www-form-urlencoded; charset=iso-8859-1")
    undeclared = post(client, event.event_id, body, "application/x-www-form-urlencoded")
    assert declared.json()["outcome"] == "success"
    assert undeclared.json()["outcome"] == "failure"


def test_it_accepts_feedback_as_a_get_with_query_parameters(client, event):
    response = client.get(URL, {"event_id": event.event_id, "type": "conversion", "reason": "Sale closed"})
    assert response.status_code == 201
    assert response.json() == {"outcome": "success", "lead": lead_of(event)}


def test_it_reads_the_event_id_case_insensitively(client, event):
    response = post_json(client, event.event_id.upper(), {"type": "return"})
    assert response.json()["outcome"] == "success"


# Response formats


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/xml", "xml"),
        ("application/xml", "xml"),
        ("TEXT/XML", "xml"),
        (LEADCONDUIT_ACCEPT, "json"),
        ("text/xml;q=0.5, application/json;q=0.9", "json"),
        ("application/json;q=0.1, text/xml", "xml"),
        ("application/json;q=0, text/xml;q=0.2", "xml"),
        ("text/plain, text/html;q=0.9, application/xml;q=0.1", "xml"),
    ],
)
def test_it_answers_in_the_format_the_accept_header_prefers(client, event, accept, expected):
    response = post_json(client, event.event_id, {"type": "return"}, accept=accept)
    assert response.status_code == 201
    content_type = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}[expected]
    assert response["Content-Type"] == content_type


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/json;q=0", "image/png, text/csv"])
def test_it_refuses_an_accept_header_it_cannot_satisfy(client, event, accept):
    response = post_json(client, event.event_id, {"type": "return"}, accept=accept)
    assert response.status_code == 406
    assert text_of(response) == NOT_ACCEPTABLE


def test_it_leaves_empty_values_out_of_json(client, make_event):
    event = make_event(first_name="Joe", last_name="Blow", email="JOE@EXAMPLE.COM", phone_1="")
    response = post_json(client, event.event_id, {"type": "return"})
    assert json.loads(response.content) == {
        "outcome": "success",
        "lead": {"id": event.lead_id, "first_name": "Joe", "last_name": "Blow", "email": "joe@example.com"},
    }


def test_it_renders_an_empty_reason_element_in_xml(client, event):
    response = post_json(client, event.event_id, {"type": "return"}, accept="text/xml")
    assert (
        response.content
        == (
            f'<?xml version="1.0"?><result><outcome>success</outcome><reason/><lead><id>{event.lead_id}</id>'
            "<first_name>Joe</first_name><last_name>Blow</last_name><email>joe.blow@example.com</email>"
            "<phone_1>5125551212</phone_1></lead></result>"
        ).encode()
    )


def test_it_escapes_markup_in_xml(client, make_event):
    event = make_event(first_name="Jo & <Jim>", allowed_reasons="Only this")
    response = post_json(client, event.event_id, {"type": "return", "reason": "x"}, accept="application/xml")
    assert b"<first_name>Jo &amp; &lt;Jim&gt;</first_name>" in response.content
    assert b"<reason>Reason 'x' is not allowed</reason>" in response.content


@pytest.mark.parametrize(
    ("accept", "fragment"),
    [("application/json", b'"price": "12.50"'), ("text/xml", b"</lead><price>12.50</price></result>")],
)
def test_it_includes_the_price_when_the_lead_has_one(client, make_event, accept, fragment):
    event = make_event(price=Decimal("12.50"))
    response = post_json(client, event.event_id, {"type": "return"}, accept=accept)
    assert fragment in response.content


# Refusals (text/plain, as LeadConduit sends them)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_it_refuses_methods_other_than_get_and_post(client, event, method):
    response = getattr(client, method)(
        f"{URL}?event_id={event.event_id}", '{"type": "return"}', content_type="application/json"
    )
    assert response.status_code == 415
    assert text_of(response) == f"The {method.upper()} method is not allowed"


def test_it_requires_a_content_type_on_a_post_with_a_body(client, event):
    response = client.generic("POST", f"{URL}?event_id={event.event_id}", b'{"type": "return"}', content_type="")
    assert response.status_code == 415
    assert text_of(response) == "Content-Type header is required"


def test_it_requires_a_content_type_on_an_empty_post(client, event):
    response = client.generic("POST", f"{URL}?event_id={event.event_id}")
    assert response.status_code == 415
    assert text_of(response) == "Content-Type header is required"
    assert SandboxCall.objects.get().content_type == ""


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "application/octet-stream"])
def test_it_refuses_an_unsupported_content_type(client, event, content_type):
    response = post(client, event.event_id, "type=return", content_type)
    assert response.status_code == 406
    assert text_of(response) == UNSUPPORTED


@pytest.mark.parametrize(
    ("content_type", "body", "prefix"),
    [
        ("application/json", b"{not json", "Body is not parsable as application/json -- Expecting property name"),
        ("application/json; charset=utf-8", b"[]", "Body is not parsable as application/json -- expected an object"),
        ("application/json", b"", "Body is not parsable as application/json -- Expecting value"),
        ("application/json", b'{"type": "r\xe9turn"}', "Body is not parsable as application/json -- 'utf-8' codec"),
        ("application/json", b"[" * 100_000, "Body is not parsable as application/json -- "),
        ("application/json; charset=klingon", b"{}", "Body is not parsable as application/json -- unknown encoding"),
        ("text/xml", b"<feedback><type>return</feedback>", "Body is not parsable as text/xml -- mismatched tag"),
        ("application/xml", b"", "Body is not parsable as application/xml -- no element found"),
        (
            "text/xml",
            b'<?xml version="1.0" encoding="klingon"?><feedback/>',
            "Body is not parsable as text/xml -- unknown encoding",
        ),
        (
            "text/xml",
            b'<!DOCTYPE x [<!ENTITY a "aaaa">]><feedback><type>&a;</type></feedback>',
            "Body is not parsable as text/xml -- DTDForbidden",
        ),
        (
            "application/x-www-form-urlencoded",
            b"type=return&reason",
            "Body is not parsable as application/x-www-form-urlencoded -- bad query field",
        ),
    ],
)
def test_it_refuses_a_body_it_cannot_parse(client, event, content_type, body, prefix):
    response = post(client, event.event_id, body, content_type)
    assert response.status_code == 400
    assert text_of(response).startswith(prefix)


def test_it_requires_an_event_id(client):
    response = client.post(URL, '{"type": "return"}', content_type="application/json")
    assert response.status_code == 400
    assert text_of(response) == "event_id query parameter is required"


# Outcomes


def test_it_accepts_a_return(client, event):
    response = post_json(client, event.event_id, {"type": "return", "reason": "Wrong number"})
    assert response.status_code == 201
    assert response.json() == {"outcome": "success", "lead": lead_of(event)}


def test_it_refuses_a_return_after_the_return_window_but_accepts_a_conversion(client, make_event):
    event = make_event(return_window_days=7, created_at=timezone.now() - timedelta(days=8))
    returned = post_json(client, event.event_id, {"type": "return"})
    converted = post_json(client, event.event_id, {"type": "conversion"})
    assert returned.status_code == 201
    assert returned.json()["outcome"] == "failure"
    assert returned.json()["reason"] == "Must provide return within 7 days"
    assert converted.json()["outcome"] == "success"


def test_it_accepts_a_return_inside_the_return_window(client, make_event):
    event = make_event(return_window_days=7, created_at=timezone.now() - timedelta(days=6))
    assert post_json(client, event.event_id, {"type": "return"}).json()["outcome"] == "success"


@pytest.mark.parametrize("feedback_type", ["return", "conversion"])
def test_it_refuses_feedback_on_an_event_older_than_90_days(client, make_event, feedback_type):
    event = make_event(created_at=timezone.now() - timedelta(days=91))
    response = post_json(client, event.event_id, {"type": feedback_type})
    assert response.status_code == 201
    assert response.json()["outcome"] == "failure"
    assert response.json()["reason"] == "Event has expired"


def test_it_accepts_feedback_on_an_event_just_under_90_days_old(client, make_event):
    event = make_event(created_at=timezone.now() - timedelta(days=89))
    assert post_json(client, event.event_id, {"type": "conversion"}).json()["outcome"] == "success"


def test_it_refuses_a_reason_the_seller_does_not_allow(client, make_event):
    event = make_event(allowed_reasons="Wrong number\nDuplicate\n")
    refused = post_json(client, event.event_id, {"type": "return", "reason": "Too expensive"})
    accepted = post_json(client, event.event_id, {"type": "return", "reason": "Duplicate"})
    assert refused.json()["outcome"] == "failure"
    assert refused.json()["reason"] == "Reason 'Too expensive' is not allowed"
    assert accepted.json()["outcome"] == "success"


def test_it_answers_failure_for_an_unknown_event(client):
    response = post_json(client, "5af4b98aa8065fa3a79bf4b3", {"type": "return"})
    assert response.status_code == 201
    assert response.json() == {"outcome": "failure", "reason": "Event not found"}


def test_it_answers_failure_for_an_invalid_type(client, event):
    response = post_json(client, event.event_id, {"type": "refund"})
    assert response.json()["outcome"] == "failure"
    assert response.json()["reason"] == "Invalid feedback type 'refund'"


@pytest.mark.parametrize("accept", ["application/json", "text/xml"])
def test_it_forbids_feedback_when_the_seller_has_not_enabled_it(client, make_event, accept):
    event = make_event(feedback_enabled=False, last_name="Blow", email="joe.blow@example.com")
    response = post_json(client, event.event_id, {"type": "conversion"}, accept=accept)
    assert response.status_code == 409
    if accept == "text/xml":
        assert b"<outcome>failure</outcome><reason>Feedback is forbidden</reason>" in response.content
    else:
        assert response.json() == {"outcome": "failure", "reason": "Feedback is forbidden", "lead": lead_of(event)}


# The record of calls


def test_it_records_every_call_exactly_as_it_arrived(client, event):
    body = '{"type": "return", "reason": "Wrong number"}'
    client.post(
        f"{URL}?event_id={event.event_id}&extra=1",
        body,
        content_type="application/json; charset=utf-8",
        headers={"Accept": "text/xml", "Authorization": "Basic QVBJOnNlY3JldA=="},
    )
    client.put(f"{URL}?event_id={event.event_id}", "x", content_type="text/plain")
    post_json(client, event.event_id, {"type": "return"}, accept="text/plain")
    post(client, event.event_id, "{", "application/json")
    client.get(f"/sandbox/fault/503/feedback?event_id={event.event_id}")

    calls = list(SandboxCall.objects.all())
    assert [(call.method, call.status, call.fault) for call in calls] == [
        ("POST", 201, ""),
        ("PUT", 415, ""),
        ("POST", 406, ""),
        ("POST", 400, ""),
        ("GET", 503, "503"),
    ]
    first = calls[0]
    assert first.query == f"event_id={event.event_id}&extra=1"
    assert first.event_id == event.event_id
    assert first.content_type == "application/json; charset=utf-8"
    assert first.accept == "text/xml"
    assert first.authorization == "Basic QVBJOnNlY3JldA=="
    assert first.body == body
    assert first.response_content_type == "text/xml; charset=utf-8"
    assert first.response_body.startswith('<?xml version="1.0"?><result><outcome>success</outcome>')
    assert calls[1].body == "x"
    assert calls[2].response_body == NOT_ACCEPTABLE


def test_it_records_a_body_that_is_not_text(client, event):
    # PostgreSQL cannot store NUL in a text column; the call must be recorded anyway.
    response = post(client, event.event_id, b'{"type": "return"\x00\xff}', "application/json")
    assert response.status_code == 400
    assert SandboxCall.objects.get().body == '{"type": "return"\ufffd\ufffd}'


def test_it_records_headers_longer_than_its_columns(client, event):
    accept = "application/json, " + ", ".join(f"application/x-{n}" for n in range(40))
    response = post_json(client, event.event_id, {"type": "return"}, accept=accept)
    assert response.status_code == 201
    call = SandboxCall.objects.get()
    assert call.accept == accept[:200]


# Fault modes


def fault(client, mode: str, event_id: str = "5af4b98aa8065fa3a79bf4b3", **query):
    return client.post(
        f"/sandbox/fault/{mode}/feedback",
        '{"type": "return"}',
        "application/json",
        query_params={"event_id": event_id, **query},
    )


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        ("400", 400, "Body is not parsable as application/json -- Unexpected token < in JSON at position 0"),
        ("406", 406, NOT_ACCEPTABLE),
        ("415", 415, "Content-Type header is required"),
    ],
)
def test_it_fakes_leadconduits_plain_text_refusals(client, mode, status, text):
    response = fault(client, mode)
    assert response.status_code == status
    assert text_of(response) == text


def test_it_asks_to_retry_after_seven_seconds_when_rate_limited(client):
    response = fault(client, "429")
    assert response.status_code == 429
    assert response["Retry-After"] == "7"


def test_it_sends_the_retry_after_it_is_asked_for(client):
    response = fault(client, "503", retry_after="Wed, 21 Oct 2037 07:28:00 GMT")
    assert response.status_code == 503
    assert response["Retry-After"] == "Wed, 21 Oct 2037 07:28:00 GMT"


def test_it_sends_no_retry_after_on_a_plain_503(client):
    assert not fault(client, "503").has_header("Retry-After")


@pytest.mark.parametrize(("status", "expected"), [("", 302), ("307", 307), ("308", 308), ("200", 302)])
def test_it_redirects_to_the_real_endpoint(client, status, expected):
    response = fault(client, "redirect", status=status)
    assert response.status_code == expected
    assert response["Location"].startswith("/sandbox/feedback?event_id=5af4b98aa8065fa3a79bf4b3")


def test_it_streams_a_huge_body_without_declaring_its_length(client):
    response = fault(client, "huge")
    assert response.status_code == 201
    assert not response.has_header("Content-Length")
    body = b"".join(response.streaming_content)
    assert len(body) > 4 * 1024 * 1024
    assert json.loads(body)["outcome"] == "success"
    assert SandboxCall.objects.get().status == 201


def test_it_records_its_garbage_reply(client):
    response = fault(client, "garbage")
    assert response.status_code == 201
    assert SandboxCall.objects.get().response_body == "\ufffd\ufffdnot a result{{"


def test_it_answers_with_an_error_outcome_in_error_mode(client, event):
    response = fault(client, "error", event.event_id)
    assert response.status_code == 201
    assert response.json() == {"outcome": "error", "reason": "An unexpected error occurred"}


def test_it_answers_normally_in_slow_mode_after_the_delay(client, event):
    response = fault(client, "slow", event.event_id, delay="0.01")
    assert response.json()["outcome"] == "success"


def test_it_refuses_an_unknown_fault_mode(client, event):
    response = fault(client, "typo", event.event_id)
    assert response.status_code == 404
    assert SandboxCall.objects.get().fault == "typo"
