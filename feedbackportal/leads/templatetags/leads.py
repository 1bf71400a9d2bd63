from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from html import escape  # the standard library's: see _result_row

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.safestring import SafeString, mark_safe

from feedbackportal.feedback.models import LIVE_STATUSES, Status
from feedbackportal.leads import highlight
from feedbackportal.leads.models import Lead, phone_digits

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """Show a North American number one way, (512) 555-1212, whatever way it arrived."""
    digits = phone_digits(value or "")
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return value


@register.filter
def money(value: Decimal | None) -> str:
    """An amount in the portal's currency, 1,234.50 USD; an unknown amount is a dash."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):,.2f} {settings.CURRENCY}"


@register.filter
def cap_percent(value: Decimal | None) -> str:
    """A share as people write it: 14 %, 12.5 %; unknown is a dash."""
    if value is None:
        return "—"
    number = Decimal(value).quantize(Decimal("0.1"))
    text = f"{number:f}".removesuffix(".0")
    return f"{text} %"


@register.filter
def mark_name(value: str, query: str) -> SafeString:
    """The name, escaped, with the start of each word the search matched in <mark>."""
    return highlight.marked(value or "", highlight.name_spans(value or "", query or ""))


@register.filter
def mark_phone(value: str, query: str) -> SafeString:
    """A displayed phone number, escaped, with the digits the search matched in <mark>."""
    return highlight.marked(value or "", highlight.phone_spans(value or "", query or ""))


@register.filter
def mark_prefix(value: str, query: str) -> SafeString:
    """An email or event id, escaped, with the start the search matched in <mark>."""
    return highlight.marked(value or "", highlight.prefix_spans(value or "", query or ""))


@dataclass(frozen=True)
class FeedbackBadge:
    text: str
    status: str


# A feedback that counts (queued to accepted, or possibly received) is a done deed; a finished one is an attempt.
BADGE_WORDS = {"return": ("Returned", "Return"), "conversion": ("Converted", "Conversion")}
# Short enough for one line of a result; the lead page has the whole story.
BADGE_STATUS = {Status.REJECTED: "Rejected"}


@register.filter
def feedback_badges(lead: Lead) -> list[FeedbackBadge]:
    """What happened to a lead, from `with_feedback_states`: "Returned · Accepted", "Return · Rejected…"."""
    found = []
    for feedback_type, (done, tried) in BADGE_WORDS.items():
        status = getattr(lead, f"{feedback_type}_status", None)
        if status:
            word = done if status in LIVE_STATUSES else tried
            found.append(FeedbackBadge(f"{word} · {BADGE_STATUS.get(Status(status), Status(status).label)}", status))
    return found


@register.simple_tag
def search_results(leads: list[Lead], query: str) -> SafeString:
    """The rows of the search results (the first one selected): each lead's name, phone, email and event
    id with what the search matched marked, its source, when it came in and what happened to it.

    Built here rather than in the template: a search shows up to 25 rows, and the template engine
    took about 0.3 ms a row, a third of a search's time at a million leads (bench/scale.py).
    """
    # Every row's address is the lead page's with its own id: reversed once, not 25 times.
    address = reverse("leads:detail", kwargs={"pk": 0}).removesuffix("0/") + "{}/"
    rows = (_result_row(lead, query, address, selected=n == 0) for n, lead in enumerate(leads))
    return mark_safe("".join(rows))  # each row's text is escaped in _result_row, or marked (escaped) by highlight


@lru_cache(maxsize=1024)
def _day_label(day: date) -> str:
    """A day as a result shows it, "Dec 3, 2026", escaped; a page of results holds a few days."""
    return escape(dateformat.format(day, "M j, Y"))


def _result_row(lead: Lead, query: str, address: str, *, selected: bool) -> str:
    # Plain f-strings over the standard library's escape: format_html costs several times as much a
    # value, which 25 rows of 10 values made a search's largest piece of Python after the ORM.
    received = timezone.localtime(lead.received_at)
    source = f'<span class="result-source">{escape(lead.source_name)}</span> · ' if lead.source_name else ""
    badges = "".join(
        f'<span class="badge badge-{escape(badge.status)}">{escape(badge.text)}</span>'
        for badge in feedback_badges(lead)
    )
    name = mark_name(lead.full_name, query) if lead.full_name else "(name not yet known)"
    phone_shown = mark_phone(phone(lead.phone), query) if lead.phone else "no phone"
    email = mark_prefix(lead.email, query) if lead.email else "no email"
    return (
        f'<li role="none"><a href="{escape(address.format(lead.pk))}" class="result" role="option"'
        f' aria-selected="{"true" if selected else "false"}">'
        f'<span class="result-name">{name}</span>'
        f'<span class="result-meta">{phone_shown} · {email}</span>'
        f'<span class="result-meta mono">{mark_prefix(lead.event_id, query)}</span>'
        f'<span class="result-meta">{source}<time datetime="{escape(received.isoformat())}" title="Received">'
        f"{_day_label(received.date())}</time></span>"
        f'<span class="result-feedback">{badges}</span>'
        "</a></li>"
    )
