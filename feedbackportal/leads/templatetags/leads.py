from decimal import Decimal

from django import template
from django.conf import settings

from feedbackportal.leads.models import phone_digits

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
def percent(value: Decimal | None) -> str:
    """A share as people write it: 14 %, 12.5 %; unknown is a dash."""
    if value is None:
        return "—"
    number = Decimal(value).quantize(Decimal("0.1"))
    text = f"{number:f}".removesuffix(".0")
    return f"{text} %"
