"""LeadConduit's generic lead delivery, as a recipient receives it: JSON, form or XML (defusedxml only).

Pure functions, no I/O. Everything that can go wrong with a body raises BadDelivery, whose message
is safe to send back to LeadConduit (it shows in the seller's delivery log).
"""

import json
import math
from collections.abc import Mapping
from urllib.parse import parse_qsl

from feedbackportal.leadconduit.wire import (
    BODY_LIMIT_BYTES,
    UnsafeOrInvalidXml,
    charset,
    is_event_id,
    media_type,
    parse_xml,
    storable_text,
)

MAX_BODY_BYTES = BODY_LIMIT_BYTES
MAX_DEPTH = 16
MAX_FIELDS = 1000


class BadDelivery(ValueError):
    """The delivery cannot be stored as sent; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_delivery(body: bytes, content_type: str) -> dict:
    """The delivered fields as a dict (nested for JSON and XML), every text value cleaned for storage."""
    kind = media_type(content_type)
    if not body.strip():
        raise BadDelivery("The body is empty.")
    if kind == "application/json" or kind.endswith("+json"):
        data = _load_json(body)
    elif kind == "application/x-www-form-urlencoded":
        data = _load_form(body, charset(content_type))
    elif kind in ("text/xml", "application/xml") or kind.endswith("+xml"):
        data = _load_xml(body)
    else:
        raise BadDelivery(
            "Unsupported Content-Type; send application/json, application/x-www-form-urlencoded or text/xml.",
            status=415,
        )
    cleaned = _clean(data, depth=0)
    assert isinstance(cleaned, dict)  # _load_* return mappings, and _clean keeps their shape
    return cleaned


def extract_fields(data: Mapping, mapping: Mapping[str, str]) -> dict[str, str]:
    """Lead field → text, for each mapped parameter present with a scalar value.

    Raises BadDelivery when the event id is missing or is not 24 hex characters.
    """
    fields: dict[str, str] = {}
    for field, name in mapping.items():
        value = lookup(data, name)
        if value is None or isinstance(value, (dict, list)):
            continue
        text = value if isinstance(value, str) else _scalar_text(value)
        fields[field] = " ".join(text.split()) if field != "event_id" else text.strip()
    event_name = mapping["event_id"]
    event_id = fields.get("event_id", "")
    if not event_id:
        raise BadDelivery(f"Missing event id: no '{event_name}' parameter. Map Event ID ({{{{event_id}}}}) to it.")
    if not is_event_id(event_id):
        raise BadDelivery(f"Malformed event id in '{event_name}': expected 24 hex characters.")
    fields["event_id"] = event_id.lower()
    return fields


def lookup(data: Mapping, name: str) -> object:
    """A parameter by name; "lead.email" also reads {"lead": {"email": …}} when no key has the dotted name."""
    if name in data:
        return data[name]
    current: object = data
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def clean_text(value: str) -> str:
    """Text any database stores: no NUL or other control characters, no lone surrogates."""
    return storable_text(value, drop_controls=True)


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _load_json(body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8-sig"), parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise BadDelivery(f"The body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadDelivery("The JSON body must be an object of lead fields.")
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


def _load_form(body: bytes, encoding: str) -> dict:
    try:
        text = body.decode(encoding)
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (LookupError, UnicodeDecodeError):
        raise BadDelivery(f"The form body is not valid {encoding}.") from None
    except ValueError as exc:
        raise BadDelivery(f"The form body cannot be read: {str(exc)[:200]}") from None
    data: dict = {}
    for name, value in pairs:
        data.setdefault(name, value)  # a repeated parameter: the first one counts
    return data


def _load_xml(body: bytes) -> dict:
    try:
        root = parse_xml(body)
    except UnsafeOrInvalidXml as exc:
        if exc.refused:
            raise BadDelivery(f"XML refused: {exc} (DTDs and entities are not allowed).") from None
        raise BadDelivery(f"The body is not valid XML: {str(exc)[:200]}") from None
    return _xml_children(root, depth=0)


def _xml_children(element, *, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise BadDelivery(f"The XML is nested deeper than {MAX_DEPTH} levels.")
    data: dict = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        tag = child.tag.rpartition("}")[2]  # without a namespace
        value = _xml_children(child, depth=depth + 1) if len(child) else (child.text or "").strip()
        data.setdefault(tag, value)
    return data


def _clean(value: object, *, depth: int) -> object:
    # Stored as JSON: PostgreSQL refuses NUL and lone surrogates, so they go here, not at the database.
    if depth > MAX_DEPTH:
        raise BadDelivery(f"The body is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        if len(value) > MAX_FIELDS:
            raise BadDelivery(f"More than {MAX_FIELDS} fields.")
        return {clean_text(str(key)): _clean(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        if len(value) > MAX_FIELDS:
            raise BadDelivery(f"A list of more than {MAX_FIELDS} values.")
        return [_clean(item, depth=depth + 1) for item in value]
    return value
