"""The dialer's screen-pop: which page a call's phone, email, event id and name open.

How the parameters combine, most specific first:

1. A well-formed ``event_id`` decides alone: the lead that has it, or, when the portal has not
   received it, *Feedback by event id* for it (a phone match then would be another lead of the
   same person, the wrong one to return).
2. Otherwise the first of ``phone`` (the whole number, or a fragment of 7+ digits), ``email``
   (exactly) and ``name`` (as the search reads it) that matches any lead gives the candidates;
   each later parameter narrows them when it matches some of them, and is passed over when it
   matches none. One candidate opens its lead; several open the search for that parameter.
3. Nothing matches: the search for the most specific parameter given ("No lead matches …").

Empty and unknown parameters are ignored; a malformed one is left out with a message.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead, LeadQuerySet, phone_digits

# Enough to narrow; more matches than this for a caller's number are a test number, not a person.
CANDIDATE_LIMIT = 200
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164
MAX_VALUE_LENGTH = 100
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Pop:
    """Where a screen-pop goes: a lead, feedback by event id, or the search for a term; and what was wrong."""

    lead: Lead | None = None
    unknown_event_id: str = ""
    search_term: str = ""
    problems: list[str] = field(default_factory=list)


def _shown(value: str) -> str:
    return value if len(value) <= 60 else value[:59] + "…"


def _phone_problem(value: str) -> str | None:
    digits = phone_digits(value)
    if not digits:
        return f"phone “{_shown(value)}” has no digits (the dialer sent no caller number); it was left out."
    if len(digits) < MIN_PHONE_DIGITS:
        return (
            f"phone “{_shown(value)}” has too few digits to find a caller "
            f"(at least {MIN_PHONE_DIGITS}); it was left out."
        )
    if len(digits) > MAX_PHONE_DIGITS:
        return f"phone “{_shown(value)}” has too many digits for a phone number; it was left out."
    return None


def _problem(name: str, value: str) -> str | None:
    match name:
        case "event_id" if not is_event_id(value):
            return (
                f"event_id “{_shown(value)}” is not a LeadConduit event id "
                "(24 characters, digits and a to f); it was left out."
            )
        case "phone":
            return _phone_problem(value)
        case "email" if not EMAIL_RE.fullmatch(value):
            return f"email “{_shown(value)}” is not an email address; it was left out."
        case "name" if not any(character.isalpha() for character in value):
            return f"name “{_shown(value)}” has no letters; it was left out."
    return None


MATCHERS: dict[str, Callable[[str], LeadQuerySet]] = {
    "phone": lambda value: Lead.objects.search(value),
    # Exactly, through the prefix the indexes serve (SQLite's NOCASE index takes no =).
    "email": lambda value: Lead.objects.filter(email__startswith=value.lower(), email=value.lower()),
    "name": lambda value: Lead.objects.search(value),
}


def screen_pop(params: Mapping[str, str]) -> Pop:
    """Where the screen-pop for these query parameters goes (see the module's docstring)."""
    pop = Pop()
    terms: dict[str, str] = {}
    for name in ("event_id", "phone", "email", "name"):
        # No NUL: PostgreSQL's text cannot hold one, and no name, email or number has one.
        value = " ".join(str(params.get(name, "")).replace("\x00", "").split())[:MAX_VALUE_LENGTH]
        if not value:
            continue
        problem = _problem(name, value)
        if problem:
            pop.problems.append(problem)
        else:
            terms[name] = value
    if not terms:
        return pop
    if "event_id" in terms:
        event_id = terms["event_id"].lower()
        pop.lead = Lead.objects.filter(event_id=event_id).first()
        pop.unknown_event_id = "" if pop.lead else event_id
        return pop
    candidates: list[int] = []
    for name, value in terms.items():
        matches = MATCHERS[name](value).order_by()
        if candidates:
            matches = matches.filter(pk__in=candidates)
        found = list(matches.values_list("pk", flat=True)[:CANDIDATE_LIMIT])
        if found and not candidates:
            pop.search_term = value
        candidates = found or candidates
    if len(candidates) == 1:
        pop.lead = Lead.objects.get(pk=candidates[0])
    elif not candidates:
        pop.search_term = next(iter(terms.values()))
    return pop
