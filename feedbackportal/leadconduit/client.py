"""HTTP client for LeadConduit's feedback endpoint: the only code in the portal that imports requests.

``send_feedback`` makes exactly one HTTP call (no automatic retries at any layer: LeadConduit bills
every call and does not de-duplicate) and either returns a ``Reply`` holding a readable result
document or raises ``LeadConduitError`` with a ``Classification`` saying whether the feedback
may have reached LeadConduit. Both carry the ``Exchange`` (what went over the wire) for the record.
"""

import email.utils
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from feedbackportal.leadconduit.wire import (
    ACCEPT_TYPES,
    BODY_LIMIT_BYTES,
    FeedbackResult,
    UnreadableResult,
    decode_result,
    encode_feedback,
    is_event_id,
    media_type,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = BODY_LIMIT_BYTES
USER_AGENT = "FeedbackPortal/1.0 (+LeadConduit feedback client)"


class Classification(StrEnum):
    """What we know about whether a failed call reached LeadConduit."""

    ANSWERED = "answered"  # LeadConduit got it and answered: final, never resend
    NOT_SENT = "not_sent"  # certainly not recorded (no connection, or 429/503): safe to resend
    UNKNOWN = "unknown"  # may have been recorded: resend only by a person's decision


@dataclass
class Exchange:
    """One HTTP call as it went over the wire (the API key is never kept)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    duration_ms: int = 0


@dataclass(frozen=True)
class Reply:
    """LeadConduit answered with a readable result document (accepted or not)."""

    result: FeedbackResult
    exchange: Exchange

    @property
    def forbidden(self) -> bool:
        return self.exchange.status == 409


class LeadConduitError(Exception):
    """A call that produced no readable result document."""

    def __init__(
        self,
        message: str,
        *,
        classification: Classification,
        exchange: Exchange,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.classification = classification
        self.exchange = exchange
        self.retry_after = retry_after


class InvalidFeedback(ValueError):
    """The feedback cannot be sent as given (bad event id or type); nothing was sent."""


@functools.cache
def _session() -> requests.Session:
    # One pooled session per process, built on first use so tests and settings stay in control.
    session = requests.Session()
    no_retries = Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0)
    adapter = HTTPAdapter(max_retries=no_retries, pool_connections=4, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


def reset_session() -> None:
    """Close and drop the pooled session (after a fork, or when a test changes the target)."""
    if _session.cache_info().currsize:
        session = _session()
        for adapter in session.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                # Session.close() only forgets the pools: their kept-alive connections would stay
                # open until garbage collection, and the server at the other end waiting on them.
                pools = adapter.poolmanager.pools
                for key in set(pools.keys()):  # the container refuses plain iteration
                    if (pool := pools.get(key)) is not None:
                        pool.close()
        session.close()
    _session.cache_clear()


def send_feedback(event_id: str, feedback_type: str, reason: str) -> Reply:
    """Send one feedback to LeadConduit; one HTTP call, never more.

    Returns a Reply whenever LeadConduit answered with a result document (201 or 409), whatever
    its outcome. Raises LeadConduitError otherwise, and InvalidFeedback before sending anything
    when the event id or type is malformed.
    """
    if not is_event_id(event_id):
        raise InvalidFeedback("An event id is 24 hexadecimal characters.")
    if feedback_type not in ("return", "conversion"):
        raise InvalidFeedback("Feedback type must be return or conversion.")

    body, content_type = encode_feedback(settings.LEADCONDUIT_REQUEST_FORMAT, feedback_type, reason)
    headers = {
        "Content-Type": content_type,
        "Accept": ACCEPT_TYPES[settings.LEADCONDUIT_RESPONSE_FORMAT],
        "User-Agent": USER_AGENT,
    }
    request = requests.Request(
        "POST",
        settings.LEADCONDUIT_FEEDBACK_URL,
        params={"event_id": event_id.lower()},
        data=body,
        headers=headers,
    ).prepare()
    exchange = Exchange(method="POST", url=request.url or "", request_headers=headers, request_body=body)
    if settings.LEADCONDUIT_API_KEY:
        request.prepare_auth(("API", settings.LEADCONDUIT_API_KEY))

    timeout = settings.LEADCONDUIT_TIMEOUT
    started = time.monotonic()
    try:
        response = _session().send(request, timeout=(min(5.0, timeout), timeout), stream=True, allow_redirects=False)
    except requests.exceptions.RequestException as exc:
        exchange.duration_ms = _elapsed_ms(started)
        raise _transport_error(exc, exchange) from exc

    try:
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        body_error = None
        try:
            exchange.response_body = _read_capped(response, deadline=started + timeout * 2)
        except _BodyError as exc:
            body_error = str(exc)
    finally:
        response.close()
        exchange.duration_ms = _elapsed_ms(started)

    logger.info(
        "LeadConduit answered HTTP %s in %d ms (event …%s)",
        exchange.status,
        exchange.duration_ms,
        event_id[-4:],
    )
    return _interpret(exchange, body_error)


class _BodyError(Exception):
    pass


def _read_capped(response: requests.Response, *, deadline: float) -> bytes:
    declared = _count(response.headers.get("Content-Length", ""))
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _BodyError(f"reply declares {declared} bytes, over the 1 MiB limit")
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise _BodyError("reply took too long to arrive")
            # read1 returns whatever one socket read brings (each bounded by the read timeout), so a
            # reply trickling in byte by byte still meets the deadline; iter_content would wait for a
            # full chunk first.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _BodyError("reply is over the 1 MiB limit")
            chunks.append(chunk)
    except (Urllib3Error, OSError) as exc:
        raise _BodyError(f"reply was cut off: {type(exc).__name__}") from exc
    return b"".join(chunks)


def _count(value: str) -> int | None:
    # str.isdigit() also accepts digits such as "²" that int() refuses.
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _header(headers: dict[str, str], name: str) -> str:
    # Header names are case-insensitive, and Exchange keeps a plain dict of them.
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def _transport_error(exc: requests.exceptions.RequestException, exchange: Exchange) -> LeadConduitError:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return LeadConduitError(
            "Could not connect to LeadConduit in time.",
            classification=Classification.NOT_SENT,
            exchange=exchange,
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return LeadConduitError(
            "LeadConduit did not answer in time; the feedback may have been recorded.",
            classification=Classification.UNKNOWN,
            exchange=exchange,
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
        return LeadConduitError(
            f"Could not connect to LeadConduit ({_root_cause(exc)}).",
            classification=Classification.NOT_SENT,
            exchange=exchange,
        )
    return LeadConduitError(
        f"The connection failed after the feedback was sent ({_root_cause(exc)}).",
        classification=Classification.UNKNOWN,
        exchange=exchange,
    )


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    # DNS failures and refused connections arrive as MaxRetryError(reason=NewConnectionError);
    # a connection dropped after the request went out arrives as a ProtocolError instead.
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError)


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__context__ is not None and seen.__context__ is not seen:
        seen = seen.__context__
    return type(seen).__name__


def _interpret(exchange: Exchange, body_error: str | None) -> Reply:
    status = exchange.status or 0
    if status in (429, 503):
        raise LeadConduitError(
            f"LeadConduit is not taking feedback right now (HTTP {status}).",
            classification=Classification.NOT_SENT,
            exchange=exchange,
            retry_after=_retry_after(_header(exchange.response_headers, "Retry-After")),
        )
    if status >= 500 or status < 200:
        raise LeadConduitError(
            f"LeadConduit had a server error (HTTP {status}); the feedback may have been recorded.",
            classification=Classification.UNKNOWN,
            exchange=exchange,
        )
    if 300 <= status < 400:
        raise LeadConduitError(
            f"LeadConduit redirected the request (HTTP {status}); check LEADCONDUIT_FEEDBACK_URL.",
            classification=Classification.ANSWERED,
            exchange=exchange,
        )
    content_type = _header(exchange.response_headers, "Content-Type")
    if status < 300 or status == 409:
        # Only a 2xx or 409 carries a result document; the status alone never means success.
        if body_error is None:
            try:
                return Reply(result=decode_result(exchange.response_body, content_type), exchange=exchange)
            except UnreadableResult as exc:
                body_error = str(exc)
        if status == 409:
            raise LeadConduitError(
                "LeadConduit refused feedback for this lead (HTTP 409: forbidden).",
                classification=Classification.ANSWERED,
                exchange=exchange,
            )
        raise LeadConduitError(
            f"LeadConduit's reply (HTTP {status}) could not be read: {body_error}.",
            classification=Classification.UNKNOWN,
            exchange=exchange,
        )
    detail = _plain_text(exchange.response_body, content_type)
    raise LeadConduitError(
        f"LeadConduit rejected the request (HTTP {status})" + (f": {detail}" if detail else "."),
        classification=Classification.ANSWERED,
        exchange=exchange,
    )


def _plain_text(body: bytes, content_type: str) -> str:
    if media_type(content_type) not in ("text/plain", "text/html", ""):
        return ""
    text = body[:500].decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:300]


def _retry_after(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    seconds = _count(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
