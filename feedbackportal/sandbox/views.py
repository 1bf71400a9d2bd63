"""A stand-in for LeadConduit's POST /feedback, faithful to shared/reference/LEADCONDUIT.md.

Fault modes are chosen by the URL (``/sandbox/fault/<mode>/feedback``) so that a test or the demo
can point LEADCONDUIT_FEEDBACK_URL at a misbehaving LeadConduit without shared state.
"""

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from feedbackportal.leadconduit.wire import charset, media_type, parse_xml, storable_text
from feedbackportal.sandbox.models import SandboxCall, SandboxEvent

EVENT_LIFETIME = timedelta(days=90)
BODY_TYPES = {
    "application/x-www-form-urlencoded": "form",
    "application/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
}
ACCEPTABLE = {
    "application/json": "json",
    "text/xml": "xml",
    "application/xml": "xml",
    "*/*": "json",
    "application/*": "json",
    "text/*": "xml",
}
FAULTS = (
    "503",  # Service unavailable; Retry-After only when ?retry_after=... is given
    "429",  # Too many requests, Retry-After: 7 (or ?retry_after=...)
    "500",
    "502",
    "400",  # LeadConduit's own text/plain refusals, whatever the request was
    "406",
    "415",
    "redirect",  # 302 (or ?status=301|303|307|308) to the normal endpoint
    "garbage",  # 201 with a body that is no document at all
    "html",  # 200 with a proxy's HTML page
    "bomb",  # 201 with an XML entity bomb
    "huge",  # 201 with a body over 1 MiB, streamed without a Content-Length
    "error",  # a normal answer, but outcome error
    "slow",  # a normal answer after ?delay=<seconds> (default 3)
    "empty",  # 201 with an empty body
    "flaky",  # per event: the first ?fail=N calls (default 1) answer ?status=503 (or 429/500/502), then normally
)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
NOT_ACCEPTABLE = "Not capable of generating content according to the Accept header"
CONTENT_TYPE_REQUIRED = "Content-Type header is required"
UNSUPPORTED_CONTENT_TYPE = (
    "MIME type in Content-Type header is not supported. Use only "
    "application/x-www-form-urlencoded, application/json, application/xml, text/xml."
)
HUGE_CHUNK = b" " * (64 * 1024)
HUGE_CHUNKS = 64  # 4 MiB in all
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<result><outcome>&lol3;</outcome></result>"
)


class _Refusal(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text


@csrf_exempt
@login_not_required
def feedback(request: HttpRequest, fault: str = "") -> HttpResponseBase:
    # Headers are cut to the columns' lengths (PostgreSQL refuses longer values); nothing else changes.
    call = SandboxCall(
        fault=fault[:20],
        method=(request.method or "")[:10],
        query=request.META.get("QUERY_STRING", ""),
        event_id=request.GET.get("event_id", "")[:100],
        content_type=(request.META.get("CONTENT_TYPE") or "")[:200],
        accept=request.META.get("HTTP_ACCEPT", "")[:200],
        authorization=request.META.get("HTTP_AUTHORIZATION", "")[:200],
        body=storable_text(request.body),
    )
    response: HttpResponseBase | None
    if fault and fault not in FAULTS:
        response = HttpResponse(f"No such fault mode: {fault}", status=404, content_type="text/plain")
    else:
        response = _fault_response(fault, request) if fault else None
    if response is None:
        try:
            response = _answer(request, fault)
        except _Refusal as refusal:
            response = HttpResponse(refusal.text, status=refusal.status, content_type="text/plain")
    call.status = response.status_code
    call.response_content_type = response.get("Content-Type", "")[:100]
    call.response_body = storable_text(response.content[:65536]) if isinstance(response, HttpResponse) else ""
    call.save()
    return response


def _fault_response(fault: str, request: HttpRequest) -> HttpResponseBase | None:
    if fault == "flaky":
        failures = int(request.GET.get("fail", "1") or 1)
        earlier = SandboxCall.objects.filter(fault="flaky", event_id=request.GET.get("event_id", "")[:100]).count()
        if earlier >= failures:
            return None
        fault = request.GET.get("status", "503")
        if fault not in ("503", "429", "500", "502"):
            fault = "503"
    if fault in ("503", "429"):
        text = "Service unavailable" if fault == "503" else "Too many requests"
        response = HttpResponse(text, status=int(fault), content_type="text/plain")
        retry_after = request.GET.get("retry_after", "7" if fault == "429" else "")
        if retry_after:
            response["Retry-After"] = retry_after
        return response
    if fault in ("500", "502"):
        text = "Internal server error" if fault == "500" else "Bad gateway"
        return HttpResponse(text, status=int(fault), content_type="text/plain")
    if fault in ("400", "406", "415"):
        text = {
            "400": "Body is not parsable as application/json -- Unexpected token < in JSON at position 0",
            "406": NOT_ACCEPTABLE,
            "415": CONTENT_TYPE_REQUIRED,
        }[fault]
        return HttpResponse(text, status=int(fault), content_type="text/plain")
    if fault == "redirect":
        status = request.GET.get("status", "")
        response = HttpResponse(status=int(status) if status in map(str, REDIRECT_STATUSES) else 302)
        response["Location"] = f"{reverse('sandbox:feedback')}?{request.META.get('QUERY_STRING', '')}"
        return response
    if fault == "garbage":
        return HttpResponse(b"\x00\xffnot a result{{", status=201, content_type="application/json")
    if fault == "empty":
        return HttpResponse(b"", status=201, content_type="application/json")
    if fault == "html":
        return HttpResponse("<html><body>Bad gateway</body></html>", status=200, content_type="text/html")
    if fault == "bomb":
        return HttpResponse(BOMB, status=201, content_type="text/xml")
    if fault == "huge":
        return StreamingHttpResponse(_huge_body(), status=201, content_type="application/json")
    if fault == "slow":
        time.sleep(float(request.GET.get("delay", "3")))
    return None


def _huge_body() -> Iterator[bytes]:
    # A well-formed document, so only its size can make a client refuse it.
    yield b'{"outcome": "success", "padding": "'
    for _ in range(HUGE_CHUNKS):
        yield HUGE_CHUNK
    yield b'"}'


def _answer(request: HttpRequest, fault: str) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        raise _Refusal(415, f"The {request.method} method is not allowed")
    response_format = _negotiate(request.META.get("HTTP_ACCEPT", ""))
    fields = _read_fields(request)
    event_id = request.GET.get("event_id", "").strip().lower()
    if not event_id:
        raise _Refusal(400, "event_id query parameter is required")

    status, document = _decide(event_id, fields.get("type", ""), fields.get("reason", ""))
    if fault == "error":
        status, document = 201, {"outcome": "error", "reason": "An unexpected error occurred", "lead": {}}
    if response_format == "xml":
        return HttpResponse(_render_xml(document), status=status, content_type="text/xml; charset=utf-8")
    return HttpResponse(
        json.dumps(_without_empty(document)), status=status, content_type="application/json; charset=utf-8"
    )


def _negotiate(accept: str) -> str:
    if not accept.strip():
        return "json"
    best, best_q = "", 0.0
    for item in accept.split(","):
        media, *params = [part.strip() for part in item.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media.lower() in ACCEPTABLE and q > best_q:
            best, best_q = ACCEPTABLE[media.lower()], q
    if not best:
        raise _Refusal(406, NOT_ACCEPTABLE)
    return best


def _read_fields(request: HttpRequest) -> dict[str, str]:
    if request.method == "GET":
        return {key: request.GET.get(key, "") for key in ("type", "reason")}
    raw_type = request.META.get("CONTENT_TYPE") or ""
    if not raw_type.strip():
        raise _Refusal(415, CONTENT_TYPE_REQUIRED)
    mime = media_type(raw_type)
    kind = BODY_TYPES.get(mime)
    if kind is None:
        raise _Refusal(406, UNSUPPORTED_CONTENT_TYPE)
    body = request.body
    try:
        if kind == "json":
            data = json.loads(body.decode(charset(raw_type)))
            if not isinstance(data, dict):
                raise ValueError("expected an object")
            return {key: str(data.get(key) or "") for key in ("type", "reason")}
        if kind == "xml":
            # The XML declaration, not the header, names the encoding.
            root = parse_xml(body)
            return {key: (root.findtext(key) or "") for key in ("type", "reason")}
        encoding = charset(raw_type)
        parsed = parse_qs(body.decode(encoding), keep_blank_values=True, strict_parsing=bool(body), encoding=encoding)
        return {key: parsed.get(key, [""])[0] for key in ("type", "reason")}
    except (ValueError, LookupError, RecursionError) as exc:  # parse_xml's UnsafeOrInvalidXml is a ValueError
        raise _Refusal(400, f"Body is not parsable as {mime} -- {exc}") from None


def _decide(event_id: str, feedback_type: str, reason: str) -> tuple[int, dict]:
    event = SandboxEvent.objects.filter(event_id=event_id).first()
    if event is None:
        return 201, {"outcome": "failure", "reason": "Event not found", "lead": {}}
    document = {"outcome": "success", "reason": None, "lead": _lead(event)}
    if event.price is not None:
        document["price"] = str(event.price)
    age = timezone.now() - event.created_at
    if not event.feedback_enabled:
        return 409, document | {"outcome": "failure", "reason": "Feedback is forbidden"}
    if feedback_type not in ("return", "conversion"):
        return 201, document | {"outcome": "failure", "reason": f"Invalid feedback type '{feedback_type}'"}
    if age > EVENT_LIFETIME:
        return 201, document | {"outcome": "failure", "reason": "Event has expired"}
    window = event.return_window_days
    if feedback_type == "return" and window is not None and age > timedelta(days=window):
        return 201, document | {"outcome": "failure", "reason": f"Must provide return within {window} days"}
    allowed = event.allowed_reason_list
    if feedback_type == "return" and allowed and reason not in allowed:
        return 201, document | {"outcome": "failure", "reason": f"Reason '{reason}' is not allowed"}
    return 201, document


def _lead(event: SandboxEvent) -> dict[str, str]:
    return {
        "id": event.lead_id,
        "first_name": event.first_name,
        "last_name": event.last_name,
        "email": event.email.lower(),
        "phone_1": "".join(ch for ch in event.phone_1 if ch.isdigit()),
    }


def _without_empty(document: dict) -> dict:
    cleaned = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = _without_empty(value)
        if value not in (None, "", {}):
            cleaned[key] = value
    return cleaned


def _render_xml(document: dict) -> bytes:
    def element(name: str, value: object) -> str:
        if isinstance(value, dict):
            return f"<{name}>" + "".join(element(k, v) for k, v in value.items()) + f"</{name}>"
        if value in (None, ""):
            return f"<{name}/>"
        text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"<{name}>{text}</{name}>"

    lead = document.get("lead") or {}
    ordered = {"outcome": document["outcome"], "reason": document.get("reason"), "lead": lead}
    if "price" in document:
        ordered["price"] = document["price"]
    return ('<?xml version="1.0"?>' + element("result", ordered)).encode()
