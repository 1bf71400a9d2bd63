from django import template

from feedbackportal.feedback import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def attention_count(context: template.Context) -> int | str:
    """How many feedbacks wait for a manager ("999+" past the badge's cap); the queue page's own
    counts are reused, not requeried."""
    counts = context.get("attention_counts")
    if counts is not None:
        return counts["all"]
    count = selectors.needs_attention_count()
    return f"{selectors.ATTENTION_BADGE_CAP}+" if count > selectors.ATTENTION_BADGE_CAP else count


@register.filter
def header_pairs(headers: object) -> list[tuple[str, str]]:
    """Recorded headers as (name, value) pairs, sorted by name.

    Sorted because PostgreSQL's jsonb does not keep the order they were recorded in; a filter
    because a template's ``.items`` would look up a header named "items" first.
    """
    if not isinstance(headers, dict):
        return []
    return sorted(((str(name), str(value)) for name, value in headers.items()), key=lambda pair: pair[0].lower())
