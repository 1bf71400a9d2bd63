from dataclasses import dataclass
from decimal import Decimal

from django import template
from django.conf import settings
from django.utils.safestring import SafeString

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
