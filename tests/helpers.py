"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from datetime import timedelta

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import Feedback


def make_due(feedback: Feedback) -> None:
    """Let the scheduled retry of a feedback come due now, as if its back-off had passed."""
    past = timezone.now() - timedelta(seconds=1)
    Feedback.objects.filter(pk=feedback.pk, next_attempt_at__isnull=False).update(next_attempt_at=past)
    DBTaskResult.objects.filter(status="READY", run_after__gt=past).update(run_after=past)


def reload(feedback: Feedback) -> Feedback:
    return Feedback.objects.get(pk=feedback.pk)
