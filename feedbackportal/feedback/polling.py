"""When the lead page asks again for a feedback's status: fast at first, then backing off.

The server chooses each next poll (the row re-renders itself with ``hx-trigger="load delay:…"``),
so a page never polls a final feedback and never hammers the server for a slow one.
"""

import math
from dataclasses import dataclass

from django.utils import timezone

from feedbackportal.feedback.models import Feedback

# The worker usually has LeadConduit's answer recorded 100-300 ms after a feedback comes due: poll
# densely then, and back off for one that takes longer (retries, a slow LeadConduit), capped at 2 s.
POLL_BACKOFF_MS = (100, 100, 200, 300, 500, 1000, 2000)
# After the undo window, the worker needs a moment to claim and send it.
WINDOW_END_SLACK_MS = 50
MAX_POLLS = 10_000


@dataclass(frozen=True)
class NextPoll:
    delay_ms: int
    count: int  # polls made since the feedback became due to be sent; the next poll carries it


def next_poll(feedback: Feedback, polls: int = 0) -> NextPoll:
    """The next status poll for a pending feedback that has been polled ``polls`` times since it came due.

    Inside the undo window there is nothing to ask until the window ends.
    """
    if feedback.can_be_undone and feedback.next_attempt_at is not None:
        left = (feedback.next_attempt_at - timezone.now()).total_seconds()
        if left > 0:
            return NextPoll(delay_ms=math.ceil(left * 1000) + WINDOW_END_SLACK_MS, count=0)
    polls = min(max(polls, 0), MAX_POLLS)
    return NextPoll(delay_ms=POLL_BACKOFF_MS[min(polls, len(POLL_BACKOFF_MS) - 1)], count=polls + 1)


def polls_made(raw: str | None) -> int:
    """The poll count a status request carries (``?poll=``); anything unreadable counts as 0."""
    if raw is None or not raw.isascii() or not raw.isdigit():
        return 0
    return min(int(raw), MAX_POLLS)
