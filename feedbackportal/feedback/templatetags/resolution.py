from django import template

from feedbackportal.feedback.selectors import needs_attention_count

register = template.Library()


@register.simple_tag(takes_context=True)
def attention_count(context: template.Context) -> int:
    """How many feedbacks wait for a manager; the queue page's own counts are reused, not requeried."""
    counts = context.get("attention_counts")
    if counts is not None:
        return counts["all"]
    return needs_attention_count()


@register.filter
def header_pairs(headers: object) -> list[tuple[str, str]]:
    """Recorded headers as (name, value) pairs, sorted by name.

    Sorted because PostgreSQL's jsonb does not keep the order they were recorded in; a filter
    because a template's ``.items`` would look up a header named "items" first.
    """
    if not isinstance(headers, dict):
        return []
    return sorted(((str(name), str(value)) for name, value in headers.items()), key=lambda pair: pair[0].lower())
