from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.1234 → "12.3%"; nothing to divide by → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"
