"""The part of a lead's name, phone, email or event id that an agent's search matched, marked for display.

Marks follow what `search_terms` matches: names by the start of a word, phone numbers by a run of
digits wherever it sits, emails and event ids by their start. Text is escaped piece by piece, so
lead data and the query stay text whatever they hold.
"""

import re
from html import escape  # the standard library's: Django's wraps it for lazy text, and costs five times as much

from django.utils.safestring import SafeString, mark_safe

from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import PHONE_CHARACTERS_RE, phone_digits

Span = tuple[int, int]


def marked(text: str, spans: list[Span]) -> SafeString:
    """`text`, escaped, with each span (start, end) wrapped in <mark>; overlapping spans merge."""
    pieces: list[str] = []
    position = 0
    for start, end in _merged(spans):
        pieces += [escape(text[position:start]), "<mark>", escape(text[start:end]), "</mark>"]
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))  # every piece of text above is escaped


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(span for span in spans if span[0] < span[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _query(query: str) -> str:
    return " ".join(query.split())


def _is_name_query(query: str) -> bool:
    return bool(query) and "@" not in query and not is_event_id(query) and not PHONE_CHARACTERS_RE.fullmatch(query)


def name_spans(name: str, query: str) -> list[Span]:
    """The start of each word of the name that a word of the query begins."""
    query = _query(query)
    if not _is_name_query(query):
        return []
    words = [word.lower() for word in re.split(r"[\s,]+", query) if word]
    spans = []
    for match in re.finditer(r"\S+", name):
        longest = max((len(word) for word in words if match.group().lower().startswith(word)), default=0)
        if longest:
            spans.append((match.start(), match.start() + longest))
    return spans


def phone_spans(phone: str, query: str) -> list[Span]:
    """The digits of the phone number (as displayed) that the query's digits match, with a bracket they open."""
    query = _query(query)
    if not query or not PHONE_CHARACTERS_RE.fullmatch(query):
        return []
    digits = re.sub(r"\D", "", query)[1:] if query.startswith("+1") else phone_digits(query)
    if len(digits) < 3:
        return []
    positions = [index for index, character in enumerate(phone) if character.isdigit()]
    shown = "".join(phone[index] for index in positions)
    # A stored number may keep its country code; the search compares without it.
    found = shown.find(digits, 1 if len(shown) == 11 and shown.startswith("1") else 0)
    if found < 0:
        return []
    start, end = positions[found], positions[found + len(digits) - 1] + 1
    if start > 0 and phone[start - 1] == "(":
        start -= 1
    return [(start, end)]


def prefix_spans(value: str, query: str) -> list[Span]:
    """The start of an email or event id that the query is."""
    query = _query(query).lower()
    if not query or " " in query or not value.lower().startswith(query):
        return []
    return [(0, len(query))]
