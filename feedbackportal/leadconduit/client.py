"""HTTP client for LeadConduit's feedback endpoint: the only code in the portal that imports requests.

``send_feedback`` makes exactly one HTTP call (no automatic retries at any layer: LeadConduit bills
every call and does not de-duplicate) and either returns a ``Reply`` holding a readable result
document or raises ``LeadConduitError`` with a ``Classification`` saying whether the feedback
may have reached LeadConduit. Both carry the ``Exchange`` (what went over the wire) for the record.
Every call ends within ``LEADCONDUIT_TIMEOUT`` seconds, whatever the server does (``_Deadline``).
"""

import contextlib
import contextvars
import email.utils
import functools
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from feedbackportal.env import url_problem
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


class _Deadline:
    """A hard end to one call: when it passes, every socket the call opened or used is shut down.

    Socket timeouts bound each read, not the call: a server sending one byte of its status line or
    headers every few seconds would hold the worker for as long as it liked. Shutting the socket
    down from a timer thread wakes whatever read or handshake is blocked on it, at any stage.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passed = False  # the timer shut the call down
        self.sent = False  # a byte of the request was handed to a connected socket
        self._over = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._token: contextvars.Token[_Deadline | None] | None = None

    def __enter__(self) -> "_Deadline":
        self._token = _current_deadline.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            # Once the call is over its kept-alive connection belongs to the pool, not to this timer.
            self._over = True
        self._timer.cancel()
        if self._token is not None:
            _current_deadline.reset(self._token)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self.passed:
                _shut_down(sock)

    def sending(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self.passed:
                _shut_down(sock)
            else:
                self.sent = True

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.passed = True
            for sock in self._sockets:
                _shut_down(sock)


_current_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "leadconduit_deadline", default=None
)


def _shut_down(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: it acts on the file descriptor and leaves
    # the TLS state, which the blocked thread is using, alone. OSError: closed or never connected.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlineHTTPConnection(HTTPConnection):
    """Puts every socket of the call in flight under its _Deadline (the HTTPS subclass too)."""

    def _new_conn(self) -> socket.socket:
        # The socket as soon as it is connected, so a trickled TLS handshake is covered too.
        sock = super()._new_conn()
        deadline = _current_deadline.get()
        if deadline is not None:
            deadline.watch(sock)
            if deadline.passed:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection not ready within the {deadline.seconds:g} s deadline")
        return sock

    def send(self, data: Any) -> None:
        deadline = _current_deadline.get()
        if deadline is not None:
            if self.sock is None:
                self.connect()  # what http.client's send() does first
            assert self.sock is not None
            deadline.sending(self.sock)
        super().send(data)


class _DeadlineHTTPSConnection(_DeadlineHTTPConnection, HTTPSConnection):
    pass


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPConnectionPool,
            "https": _DeadlineHTTPSConnectionPool,
        }


@functools.cache
def _session() -> requests.Session:
    # One pooled session per process, built on first use so tests and settings stay in control.
    session = requests.Session()
    no_retries = Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0)
    adapter = _DeadlineAdapter(max_retries=no_retries, pool_connections=4, pool_maxsize=8)
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
    url = settings.LEADCONDUIT_FEEDBACK_URL
    exchange = Exchange(method="POST", url=url, request_headers=headers, request_body=body)
    # Settings refuse a malformed URL at start-up; one set later (or by a test) is still never
    # mistaken for a call that may have gone out.
    if problem := url_problem(url):
        raise _bad_url(problem, exchange)
    try:
        request = requests.Request(
            "POST", url, params={"event_id": event_id.lower()}, data=body, headers=headers
        ).prepare()
    except requests.exceptions.RequestException as exc:
        raise _bad_url(str(exc), exchange) from exc
    exchange.url = request.url or url
    if settings.LEADCONDUIT_API_KEY:
        request.prepare_auth(("API", settings.LEADCONDUIT_API_KEY))

    timeout = settings.LEADCONDUIT_TIMEOUT
    started = time.monotonic()
    with _Deadline(timeout) as deadline:
        try:
            response = _session().send(
                request, timeout=(min(5.0, timeout), timeout), stream=True, allow_redirects=False
            )
        except requests.exceptions.RequestException as exc:
            exchange.duration_ms = _elapsed_ms(started)
            raise _transport_error(exc, exchange, deadline) from exc

        try:
            exchange.status = response.status_code
            exchange.response_headers = dict(response.headers)
            body_error = None
            try:
                exchange.response_body = _read_capped(response, deadline)
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


def _read_capped(response: requests.Response, deadline: _Deadline) -> bytes:
    declared = _count(response.headers.get("Content-Length", ""))
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _BodyError(f"reply declares {declared} bytes, over the 1 MiB limit")
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            # read1 returns whatever one socket read brings, so the size limit holds however the
            # body arrives; the deadline shuts the socket, which ends a read that is waiting.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _BodyError("reply is over the 1 MiB limit")
            chunks.append(chunk)
    except (Urllib3Error, OSError) as exc:
        if deadline.passed:
            raise _BodyError("reply took too long to arrive") from exc
        raise _BodyError(f"reply was cut off: {type(exc).__name__}") from exc
    if deadline.passed:
        # A shut socket reads as the end of the body: what came may be only part of it.
        raise _BodyError("reply took too long to arrive")
    return b"".join(chunks)


def _count(value: str) -> int | None:
    # str.isdigit() also accepts digits such as "²" that int() refuses.
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _header(headers: dict[str, str], name: str) -> str:
    # Header names are case-insensitive, and Exchange keeps a plain dict of them.
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def _bad_url(problem: str, exchange: Exchange) -> LeadConduitError:
    return LeadConduitError(
        f"LEADCONDUIT_FEEDBACK_URL cannot be called ({problem}); nothing was sent.",
        classification=Classification.NOT_SENT,
        exchange=exchange,
    )


def _transport_error(
    exc: requests.exceptions.RequestException, exchange: Exchange, deadline: _Deadline
) -> LeadConduitError:
    if deadline.passed and deadline.sent:
        return LeadConduitError(
            f"LeadConduit did not answer in time ({deadline.seconds:g} s); the feedback may have been recorded.",
            classification=Classification.UNKNOWN,
            exchange=exchange,
        )
    if deadline.passed:
        return LeadConduitError(
            f"Could not connect to LeadConduit in time ({deadline.seconds:g} s).",
            classification=Classification.NOT_SENT,
            exchange=exchange,
        )
    if isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema)
    ):
        # Refused by requests or urllib3 before any connection was made.
        return _bad_url(str(exc), exchange)
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
