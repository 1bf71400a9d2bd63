"""send_feedback over real HTTP: against the sandbox (pytest-django's live server) and raw sockets."""

import base64
import email.utils
import gzip
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from feedbackportal.leadconduit import (
    Classification,
    FeedbackResult,
    InvalidFeedback,
    LeadConduitError,
    LeadData,
    Outcome,
    send_feedback,
)
from feedbackportal.leadconduit.client import MAX_BODY_BYTES, USER_AGENT, reset_session
from feedbackportal.sandbox.models import SandboxCall
from tests.leadconduit.raw_http import hold_open, one_byte_at_a_time, read_request, trickle

live = pytest.mark.django_db(transaction=True)

REQUESTS = {
    "json": (b'{"type": "return", "reason": "Wrong number"}', "application/json"),
    "xml": (
        b'<?xml version="1.0"?><feedback><type>return</type><reason>Wrong number</reason></feedback>',
        "text/xml",
    ),
    "form": (b"type=return&reason=Wrong+number", "application/x-www-form-urlencoded"),
}
ACCEPTS = {"json": "application/json", "xml": "text/xml"}
REPLY_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
SOME_EVENT_ID = "5af4b98aa8065fa3a79bf4b3"
NOT_ACCEPTABLE = "Not capable of generating content according to the Accept header"

HEAD_201 = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"


@pytest.fixture
def joe(make_event):
    return make_event(
        first_name="Joe",
        last_name="Blow",
        email="Joe.Blow@Example.COM",
        phone_1="+1 (512) 555-1212",
        price=Decimal("12.50"),
    )


def failure_of(event_id: str = SOME_EVENT_ID, feedback_type: str = "return", reason: str = "") -> LeadConduitError:
    with pytest.raises(LeadConduitError) as caught:
        send_feedback(event_id, feedback_type, reason)
    return caught.value


def only_call() -> SandboxCall:
    """The one call the sandbox received: the client never sends twice."""
    (call,) = SandboxCall.objects.all()
    return call


def http_date(seconds_from_now: int) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


# Formats, over real HTTP


@live
@pytest.mark.parametrize("request_format", ["json", "xml", "form"])
@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_it_sends_the_documented_request_and_reads_the_result(
    sandbox_url, settings, joe, request_format, response_format
):
    settings.LEADCONDUIT_REQUEST_FORMAT = request_format
    settings.LEADCONDUIT_RESPONSE_FORMAT = response_format
    body, content_type = REQUESTS[request_format]

    reply = send_feedback(joe.event_id, "return", "Wrong number")

    call = only_call()
    assert call.method == "POST"
    assert call.query == f"event_id={joe.event_id}"
    assert call.content_type == content_type
    assert call.accept == ACCEPTS[response_format]
    assert call.body.encode() == body
    assert call.status == 201
    assert reply.result == FeedbackResult(
        outcome=Outcome.SUCCESS,
        reason="",
        lead=LeadData(
            id=joe.lead_id,
            first_name="Joe",
            last_name="Blow",
            email="joe.blow@example.com",
            phone_1="15125551212",
        ),
        price=Decimal("12.50"),
    )
    assert not reply.forbidden
    exchange = reply.exchange
    assert exchange.method == "POST"
    assert exchange.url == f"{sandbox_url}?event_id={joe.event_id}"
    assert exchange.request_headers == {
        "Content-Type": content_type,
        "Accept": ACCEPTS[response_format],
        "User-Agent": USER_AGENT,
    }
    assert exchange.request_body == body
    assert exchange.status == 201
    assert exchange.response_headers["Content-Type"] == REPLY_TYPES[response_format]
    assert exchange.response_body.decode() == call.response_body


@live
@pytest.mark.parametrize("request_format", ["json", "xml", "form"])
def test_it_sends_markup_and_unicode_in_a_reason_intact(sandbox_url, settings, make_event, request_format):
    reason = "Número équivoqué & <電話> = 100%+"
    settings.LEADCONDUIT_REQUEST_FORMAT = request_format
    event = make_event(allowed_reasons=reason)  # the sandbox accepts this exact reason only
    assert send_feedback(event.event_id, "return", reason).result.accepted


@live
@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_it_reads_a_refusal_by_the_sellers_rules(sandbox_url, settings, make_event, response_format):
    settings.LEADCONDUIT_RESPONSE_FORMAT = response_format
    event = make_event(return_window_days=7, created_at=datetime.now(UTC) - timedelta(days=8))
    reply = send_feedback(event.event_id, "return", "")
    assert reply.result.outcome is Outcome.FAILURE
    assert reply.result.reason == "Must provide return within 7 days"
    assert reply.exchange.status == 201
    assert not reply.forbidden


@live
def test_it_reads_an_error_outcome_as_a_reply(fault_url, joe):
    fault_url("error")
    reply = send_feedback(joe.event_id, "conversion", "")
    assert reply.result.outcome is Outcome.ERROR
    assert reply.result.reason == "An unexpected error occurred"
    assert only_call().body == '{"type": "conversion"}'


@live
def test_it_sends_the_event_id_in_lower_case(sandbox_url, joe):
    assert send_feedback(joe.event_id.upper(), "conversion", "").result.accepted
    assert only_call().query == f"event_id={joe.event_id}"


@pytest.mark.parametrize(
    ("event_id", "feedback_type"),
    [("5af4b98aa8065fa3a79bf4b", "return"), ("5af4b98aa8065fa3a79bf4bz", "return"), (SOME_EVENT_ID, "refund")],
)
def test_it_refuses_malformed_feedback_without_sending_anything(raw_server, event_id, feedback_type):
    server = raw_server(lambda conn, stopping: None)
    with pytest.raises(InvalidFeedback):
        send_feedback(event_id, feedback_type, "")
    assert server.requests == []


# The API key


@live
def test_it_sends_the_api_key_as_basic_auth_and_never_records_it(sandbox_url, settings, joe):
    settings.LEADCONDUIT_API_KEY = "s3cret-key"
    reply = send_feedback(joe.event_id, "return", "")
    assert only_call().authorization == "Basic " + base64.b64encode(b"API:s3cret-key").decode()
    assert "authorization" not in {name.lower() for name in reply.exchange.request_headers}
    assert "s3cret-key" not in repr(reply.exchange)


@live
def test_it_sends_no_authorization_without_an_api_key(sandbox_url, settings, joe):
    settings.LEADCONDUIT_API_KEY = ""
    send_feedback(joe.event_id, "return", "")
    assert only_call().authorization == ""


# LeadConduit answered, but not with success


@live
@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_it_returns_a_forbidden_reply_on_409(sandbox_url, settings, make_event, response_format):
    settings.LEADCONDUIT_RESPONSE_FORMAT = response_format
    event = make_event(feedback_enabled=False)
    reply = send_feedback(event.event_id, "return", "")
    assert reply.forbidden
    assert reply.exchange.status == 409
    assert reply.result.outcome is Outcome.FAILURE
    assert reply.result.reason == "Feedback is forbidden"
    assert only_call().status == 409


@live
@pytest.mark.parametrize(
    ("mode", "text"),
    [
        ("400", "Body is not parsable as application/json -- Unexpected token < in JSON at position 0"),
        ("406", NOT_ACCEPTABLE),
        ("415", "Content-Type header is required"),
    ],
)
def test_it_reports_a_plain_text_refusal_as_answered(fault_url, mode, text):
    fault_url(mode)
    error = failure_of()
    assert error.classification is Classification.ANSWERED
    assert error.message == f"LeadConduit rejected the request (HTTP {mode}): {text}"
    assert error.exchange.status == int(mode)
    assert error.retry_after is None
    assert only_call().status == int(mode)


@live
@pytest.mark.parametrize("status", ["302", "307"])
def test_it_does_not_follow_a_redirect(fault_url, joe, status):
    fault_url("redirect", f"?status={status}")
    error = failure_of(joe.event_id)
    assert error.classification is Classification.ANSWERED
    assert error.exchange.status == int(status)
    assert "redirected" in error.message
    assert only_call().fault == "redirect"


# LeadConduit is not taking feedback: certainly not recorded


@live
@pytest.mark.parametrize(
    ("mode", "retry_after", "low", "high"),
    [
        ("429", None, 7, 7),  # the sandbox's default
        ("503", None, None, None),
        ("503", "120", 120, 120),
        ("503", "Wed, 21 Oct 2015 07:28:00 GMT", 0, 0),  # in the past
        ("429", "soon", None, None),
    ],
)
def test_it_reports_overload_as_not_sent_with_the_retry_after(fault_url, mode, retry_after, low, high):
    fault_url(mode, f"?{urlencode({'retry_after': retry_after})}" if retry_after else "")
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert error.exchange.status == int(mode)
    if low is None:
        assert error.retry_after is None
    else:
        assert low <= error.retry_after <= high
    assert only_call().status == int(mode)


@live
@pytest.mark.parametrize("mode", ["429", "503"])
def test_it_reads_a_retry_after_given_as_an_http_date(fault_url, mode):
    fault_url(mode, f"?{urlencode({'retry_after': http_date(120)})}")
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert 100 <= error.retry_after <= 120
    assert only_call().status == int(mode)


# Fate unknown: the feedback may have been recorded


@live
@pytest.mark.parametrize("mode", ["500", "502"])
def test_it_reports_a_server_error_as_unknown(fault_url, mode):
    fault_url(mode)
    error = failure_of()
    assert error.classification is Classification.UNKNOWN
    assert error.exchange.status == int(mode)
    assert only_call().status == int(mode)


@live
def test_it_gives_up_waiting_after_the_timeout_and_reports_unknown(fault_url, short_timeout, joe):
    fault_url("slow", "?delay=1")
    error = failure_of(joe.event_id)
    assert error.classification is Classification.UNKNOWN
    assert error.exchange.status is None
    assert "did not answer in time" in error.message
    # The sandbox records the call once it answers, after the delay: wait so it lands in this test.
    deadline = time.monotonic() + 5
    while not SandboxCall.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert only_call().status == 201


@live
@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("garbage", "not valid JSON"),
        ("empty", "not valid JSON"),
        ("html", "XML root is <html>"),
        ("bomb", "XML refused: DTDForbidden"),
    ],
)
def test_it_reports_an_unreadable_success_as_unknown(fault_url, mode, detail):
    fault_url(mode)
    error = failure_of()
    assert error.classification is Classification.UNKNOWN
    assert error.exchange.status in (200, 201)
    assert detail in error.message
    assert only_call().fault == mode


@live
def test_it_stops_reading_a_huge_body_at_one_mebibyte(fault_url):
    fault_url("huge")
    error = failure_of()
    assert error.classification is Classification.UNKNOWN
    assert "over the 1 MiB limit" in error.message
    assert len(error.exchange.response_body) <= MAX_BODY_BYTES
    assert only_call().fault == "huge"


# Raw sockets: what a well-behaved server never does


def send_and_hold(head: bytes, body: bytes = b""):
    def respond(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(head + b"\r\n\r\n" + body)
        hold_open(conn, stopping)

    return respond


def test_it_refuses_a_declared_huge_body_without_reading_it(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 2  # waiting for the rest would take this long
    server = raw_server(
        send_and_hold(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2097152", b"{")
    )
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 1
    assert error.classification is Classification.UNKNOWN
    assert "declares 2097152 bytes" in error.message
    assert error.exchange.response_body == b""
    assert len(server.requests) == 1


def test_it_stops_reading_an_undeclared_huge_body_without_waiting_for_its_end(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 2  # waiting for the end would take this long
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close"
    server = raw_server(send_and_hold(head, b'{"outcome": "success", "x": "' + b" " * (MAX_BODY_BYTES + 100_000)))
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 1
    assert error.classification is Classification.UNKNOWN
    assert "over the 1 MiB limit" in error.message
    assert len(server.requests) == 1


def test_it_gives_up_on_a_body_that_trickles_in_past_its_deadline(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 0.2  # each byte comes in time; the whole body never does

    server = raw_server(trickle([b" "] * 100, first=HEAD_201))
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 3  # the trickle would last 5 s
    assert error.classification is Classification.UNKNOWN
    assert "took too long" in error.message
    assert len(server.requests) == 1


def test_it_reports_a_connection_dropped_after_sending_as_unknown(raw_server):
    server = raw_server(lambda conn, stopping: None)  # reads the request, closes without a word
    error = failure_of(reason="Wrong number")
    assert error.classification is Classification.UNKNOWN
    assert error.exchange.status is None
    assert len(server.requests) == 1
    assert server.requests[0].startswith(f"POST /feedback?event_id={SOME_EVENT_ID} HTTP/1.1\r\n".encode())
    assert server.requests[0].endswith(b'\r\n\r\n{"type": "return", "reason": "Wrong number"}')


def test_it_reports_a_connection_cut_mid_body_as_unknown(raw_server):
    server = raw_server(
        lambda conn, stopping: conn.sendall(
            b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"outc'
        )
    )
    error = failure_of()
    assert error.classification is Classification.UNKNOWN
    assert "cut off" in error.message
    assert len(server.requests) == 1


def test_it_reads_retry_after_whatever_the_case_of_the_header_name(raw_server):
    raw_server(lambda conn, stopping: conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 9\r\n\r\n"))
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert error.retry_after == 9


def test_it_ignores_a_retry_after_that_is_not_ascii_digits(raw_server):
    # "\xb2" arrives as "²", which str.isdigit() accepts and int() does not.
    raw_server(lambda conn, stopping: conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: \xb2\r\n\r\n"))
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert error.retry_after is None


def test_it_survives_a_content_length_that_is_not_ascii_digits(raw_server):
    raw_server(
        lambda conn, stopping: conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\n"
            b'Connection: close\r\n\r\n{"outcome": "success"}'
        )
    )
    assert send_feedback(SOME_EVENT_ID, "return", "").result.accepted


def test_it_closes_kept_alive_connections_when_the_session_is_reset(raw_server):
    hung_up = threading.Event()

    def answer_and_keep_alive(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nBad")
        if hold_open(conn, stopping):
            hung_up.set()

    raw_server(answer_and_keep_alive)
    error = failure_of()  # its traceback keeps the response, and so the connection pool, alive
    assert error.classification is Classification.ANSWERED
    assert not hung_up.wait(0.1)
    reset_session()
    assert hung_up.wait(2)


# Never connected: certainly not sent


def test_it_reports_a_refused_connection_as_not_sent(closed_port_url):
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert error.exchange.status is None
    assert error.exchange.url == f"{closed_port_url}?event_id={SOME_EVENT_ID}"


def test_it_reports_an_unknown_host_as_not_sent(settings):
    settings.LEADCONDUIT_FEEDBACK_URL = "http://no-such-host.invalid/feedback"
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert error.exchange.status is None


def test_it_reads_a_chunked_reply(raw_server):
    body = b'{"outcome": "success", "lead": {"id": "5af4b98aa8065fa3a79bf4b4"}}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    raw_server(
        lambda conn, stopping: conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        )
    )
    assert send_feedback(SOME_EVENT_ID, "return", "").result.lead.id == "5af4b98aa8065fa3a79bf4b4"


def gzipped_reply(body: bytes):
    compressed = gzip.compress(body)
    head = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(compressed)
    )
    return lambda conn, stopping: conn.sendall(head + compressed)


def test_it_reads_a_compressed_reply(raw_server):
    raw_server(gzipped_reply(b'{"outcome": "failure", "reason": "Duplicate"}'))
    assert send_feedback(SOME_EVENT_ID, "return", "").result.reason == "Duplicate"


def test_it_applies_the_size_limit_to_the_decompressed_reply(raw_server):
    raw_server(gzipped_reply(b'{"outcome": "success", "x": "' + b" " * (8 * MAX_BODY_BYTES) + b'"}'))
    error = failure_of()
    assert error.classification is Classification.UNKNOWN
    assert "over the 1 MiB limit" in error.message


# A hard deadline on the whole call, whatever the server does


# A status line and headers one byte at a time, each in time for the read timeout, never ending.
trickle_head = trickle(
    one_byte_at_a_time(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" + b"X-Padding: 0\r\n" * 100)
)


def test_it_gives_up_on_a_status_line_and_headers_that_trickle_in_past_its_deadline(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 0.5  # each byte comes well in time; the headers never end
    server = raw_server(trickle_head)
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 0.5 + 0.5
    assert error.classification is Classification.UNKNOWN  # the request went out: LeadConduit may have it
    assert error.exchange.status is None
    assert "did not answer in time" in error.message
    assert len(server.requests) == 1


def test_it_gives_up_on_a_server_that_never_answers_within_its_deadline(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 0.5
    server = raw_server(hold_open)
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 0.5 + 0.5
    assert error.classification is Classification.UNKNOWN
    assert "did not answer in time" in error.message
    assert len(server.requests) == 1


def test_it_keeps_the_deadline_for_the_whole_call_not_each_part(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 0.6

    raw_server(trickle([b" "] * 40, first=HEAD_201, wait=0.4))  # the head in time for the read timeout
    started = time.monotonic()
    error = failure_of()
    assert time.monotonic() - started < 0.6 + 0.5
    assert error.classification is Classification.UNKNOWN
    assert "took too long" in error.message


def test_it_leaves_a_kept_alive_connection_alone_once_the_call_is_over(raw_server, settings):
    settings.LEADCONDUIT_TIMEOUT = 0.3
    reply = (
        b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"outcome": "success"}'
    )

    def answer_twice_on_one_connection(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(reply)
        if read_request(conn):
            conn.sendall(reply)

    server = raw_server(answer_twice_on_one_connection)
    assert send_feedback(SOME_EVENT_ID, "return", "").result.accepted
    time.sleep(0.5)  # the first call's deadline passes while its connection waits in the pool
    assert send_feedback(SOME_EVENT_ID, "return", "").result.accepted
    assert len(server.requests) == 1  # one connection carried both calls


# A malformed LeadConduit URL: nothing can have been sent


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "app.leadconduit.com/feedback",
        "ftp://app.leadconduit.com/feedback",
        "https:///feedback",
        "https://app.leadconduit.com:99999/feedback",
        "http://[::1/feedback",
    ],
)
def test_it_reports_a_malformed_url_as_not_sent(settings, url):
    settings.LEADCONDUIT_FEEDBACK_URL = url
    error = failure_of()
    assert error.classification is Classification.NOT_SENT
    assert "LEADCONDUIT_FEEDBACK_URL" in error.message
    assert error.exchange.status is None
