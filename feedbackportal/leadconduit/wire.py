"""LeadConduit's feedback wire format: encode a request body, decode a result document.

Pure functions, no I/O. The only place that parses XML, and only with defusedxml.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from urllib.parse import urlencode

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from django.utils.http import parse_header_parameters

EVENT_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")

CONTENT_TYPES = {
    "json": "application/json",
    "xml": "text/xml",
    "form": "application/x-www-form-urlencoded",
}
ACCEPT_TYPES = {"json": "application/json", "xml": "text/xml"}


class FeedbackType(StrEnum):
    RETURN = "return"
    CONVERSION = "conversion"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LeadData:
    """The lead as LeadConduit echoes it back: phone as digits, email lower-cased."""

    id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone_1: str = ""


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """A readable result document: LeadConduit answered, whatever it decided."""

    outcome: Outcome
    reason: str
    lead: LeadData
    price: Decimal | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.SUCCESS


# The most any body the portal reads may be: LeadConduit's replies and the intake's lead deliveries.
BODY_LIMIT_BYTES = 1024 * 1024

_CONTROLS = dict.fromkeys(range(0x00, 0x09)) | dict.fromkeys([0x0B, 0x0C]) | dict.fromkeys(range(0x0E, 0x20))


def storable_text(value: str | bytes, *, drop_controls: bool = False) -> str:
    """Text any database column takes, whatever arrived.

    Bytes are read as UTF-8 and lone surrogates are replaced, both with U+FFFD; NUL (which
    PostgreSQL's text refuses) becomes U+FFFD, or with ``drop_controls`` every control
    character but tab, newline and carriage return is left out (lead fields people read).
    """
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.translate(_CONTROLS) if drop_controls else text.replace("\x00", "\ufffd")


def media_type(content_type: str) -> str:
    """The lower-cased media type of a Content-Type value ("" when there is none)."""
    return parse_header_parameters(content_type)[0] if content_type.strip() else ""


def charset(content_type: str, default: str = "utf-8") -> str:
    """The charset parameter of a Content-Type value, lower-cased, or ``default``."""
    return (parse_header_parameters(content_type)[1].get("charset") or default).lower()


class UnreadableResult(ValueError):
    """The body is not a result document we can trust."""


_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_escape(value: str) -> str:
    # XML 1.0 cannot carry most control characters at all, escaped or not: leave them out.
    value = _NOT_XML_CHARS.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_event_id(value: str) -> bool:
    return bool(EVENT_ID_RE.fullmatch(value))


def encode_feedback(fmt: str, feedback_type: str, reason: str) -> tuple[bytes, str]:
    """Return (body, content type) for one feedback in the given request format.

    An empty reason is left out entirely: LeadConduit treats the field as optional.
    """
    fields = {"type": FeedbackType(feedback_type).value}
    if reason:
        fields["reason"] = reason
    if fmt == "json":
        body = json.dumps(fields, ensure_ascii=False).encode()
    elif fmt == "xml":
        inner = "".join(f"<{key}>{_xml_escape(value)}</{key}>" for key, value in fields.items())
        body = f'<?xml version="1.0"?><feedback>{inner}</feedback>'.encode()
    elif fmt == "form":
        body = urlencode(fields).encode()
    else:
        raise ValueError(f"unknown request format {fmt!r}")
    return body, CONTENT_TYPES[fmt]


def decode_result(body: bytes, content_type: str) -> FeedbackResult:
    """Parse a result document (JSON or XML, chosen by the response's Content-Type).

    Raises UnreadableResult for anything that is not a well-formed result with a known outcome.
    """
    kind = media_type(content_type)
    if kind in ("application/json", "text/json") or kind.endswith("+json"):
        return _from_mapping(_load_json(body))
    if kind in ("text/xml", "application/xml") or kind.endswith("+xml"):
        return _from_mapping(_load_xml(body))
    # LeadConduit labels some XML replies as JSON; sniff the first byte when the label is missing.
    stripped = body.lstrip()
    if stripped.startswith(b"<"):
        return _from_mapping(_load_xml(body))
    if stripped.startswith(b"{"):
        return _from_mapping(_load_json(body))
    raise UnreadableResult(f"unexpected content type {kind or 'none'!r}")


def _load_json(body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # ValueError: bad UTF-8, bad JSON, or an integer past Python's digit limit; RecursionError:
        # nesting deeper than the decoder goes. An XML body mislabelled as JSON is still a result.
        if body.lstrip().startswith(b"<"):
            return _load_xml(body)
        raise UnreadableResult(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableResult("JSON body is not an object")
    return data


class UnsafeOrInvalidXml(ValueError):
    """The bytes are not XML we will read: malformed, or with a DTD or entities (refused outright)."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def parse_xml(body: bytes):
    """The root element of an XML document, parsed only with defusedxml (no DTD, no entities).

    The portal's one way into XML: LeadConduit's results and its lead deliveries both come here.
    Raises UnsafeOrInvalidXml.
    """
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeOrInvalidXml(type(exc).__name__, refused=True) from None
    except (SafeET.ParseError, ValueError, LookupError) as exc:
        # expat raises ValueError or LookupError for encodings it cannot read.
        raise UnsafeOrInvalidXml(str(exc), refused=False) from None


def _load_xml(body: bytes) -> dict:
    try:
        root = parse_xml(body)
    except UnsafeOrInvalidXml as exc:
        if exc.refused:
            raise UnreadableResult(f"XML refused: {exc}") from None
        raise UnreadableResult(f"body is not valid XML: {exc}") from None
    if root.tag != "result":
        raise UnreadableResult(f"XML root is <{root.tag}>, not <result>")
    data: dict = {}
    for child in root:
        if len(child):
            data[child.tag] = {grand.tag: (grand.text or "") for grand in child}
        else:
            data[child.tag] = child.text or ""
    return data


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnreadableResult(f"{field} is not text")
    return str(value).strip()


def _from_mapping(data: dict) -> FeedbackResult:
    raw_outcome = _text(data.get("outcome"), "outcome").lower()
    try:
        outcome = Outcome(raw_outcome)
    except ValueError:
        raise UnreadableResult(f"unknown outcome {raw_outcome!r}") from None
    lead_data = data.get("lead") or {}
    if not isinstance(lead_data, dict):
        raise UnreadableResult("lead is not an object")
    lead = LeadData(**{name: _text(lead_data.get(name), f"lead.{name}") for name in LeadData.__slots__})
    return FeedbackResult(
        outcome=outcome,
        reason=_text(data.get("reason"), "reason"),
        lead=lead,
        price=_price(data.get("price")),
    )


def _price(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        price = Decimal(_text(value, "price"))
    except InvalidOperation:
        raise UnreadableResult(f"price {value!r} is not a number") from None
    return price if price.is_finite() else None
