from django import template

from feedbackportal.feedback.models import Feedback
from feedbackportal.feedback.polling import NextPoll, next_poll

register = template.Library()


@register.simple_tag(takes_context=True, name="next_poll")
def next_poll_tag(context: template.Context, feedback: Feedback) -> NextPoll:
    """``{% next_poll feedback as next %}``: when the row asks for its status again (polling.next_poll).

    The status view puts the polls made so far in the context as ``poll``; a fresh page has made none.
    """
    polls = context.get("poll", 0)
    return next_poll(feedback, polls if isinstance(polls, int) else 0)
