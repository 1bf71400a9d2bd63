from dataclasses import dataclass
from decimal import Decimal

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
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
    return mark_safe("".join(rows))  # each row is built by format_html


def _result_row(lead: Lead, query: str, address: str, *, selected: bool) -> SafeString:
    received = timezone.localtime(lead.received_at)
    source = format_html('<span class="result-source">{}</span> · ', lead.source_name) if lead.source_name else ""
    badges = format_html_join(
        "", '<span class="badge badge-{}">{}</span>', ((badge.status, badge.text) for badge in feedback_badges(lead))
    )
    return format_html(
        '<li role="none"><a href="{}" class="result" role="option" aria-selected="{}">'
        '<span class="result-name">{}</span>'
        '<span class="result-meta">{} · {}</span>'
        '<span class="result-meta mono">{}</span>'
        '<span class="result-meta">{}<time datetime="{}" title="Received">{}</time></span>'
        '<span class="result-feedback">{}</span>'
        "</a></li>",
        address.format(lead.pk),
        "true" if selected else "false",
        mark_name(lead.full_name, query) if lead.full_name else "(name not yet known)",
        mark_phone(phone(lead.phone), query) if lead.phone else "no phone",
        mark_prefix(lead.email, query) if lead.email else "no email",
        mark_prefix(lead.event_id, query),
        source,
        received.isoformat(),
        dateformat.format(received, "M j, Y"),
        badges,
    )
