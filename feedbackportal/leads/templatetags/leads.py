from django import template

from feedbackportal.leads.models import phone_digits

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """Show a North American number one way, (512) 555-1212, whatever way it arrived."""
    digits = phone_digits(value or "")
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return value
