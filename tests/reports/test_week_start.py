from datetime import date, datetime

import pytest
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.reports.selectors import week_start


@pytest.mark.parametrize(
    ("moment", "monday"),
    [
        (datetime(2026, 3, 2, 0, 0, 0), date(2026, 3, 2)),  # a Monday, first second
        (datetime(2026, 3, 8, 23, 59, 59), date(2026, 3, 2)),  # the Sunday after, last second
        (datetime(2026, 3, 9, 0, 0, 0), date(2026, 3, 9)),
        (datetime(2026, 1, 1, 12, 0, 0), date(2025, 12, 29)),  # across a year
    ],
)
def test_week_start_is_the_monday_on_or_before(make_lead, return_reason, moment, monday):
    feedback = Feedback.objects.create(
        lead=make_lead(), feedback_type="return", reason=return_reason, created_at=timezone.make_aware(moment)
    )
    week = Feedback.objects.filter(pk=feedback.pk).annotate(week=week_start("created_at")).get().week
    assert (week.date() if isinstance(week, datetime) else week) == monday
