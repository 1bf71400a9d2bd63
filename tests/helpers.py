"""Small helpers shared by test modules (fixtures live in conftest.py)."""

import threading
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Reason
from feedbackportal.leads.models import Lead


def make_due(feedback: Feedback) -> None:
    """Let the scheduled retry of a feedback come due now, as if its back-off had passed."""
    past = timezone.now() - timedelta(seconds=1)
    Feedback.objects.filter(pk=feedback.pk, next_attempt_at__isnull=False).update(next_attempt_at=past)
    DBTaskResult.objects.filter(status="READY", run_after__gt=past).update(run_after=past)


def reload(feedback: Feedback) -> Feedback:
    return Feedback.objects.get(pk=feedback.pk)


def make_feedback(lead: Lead, reason: Reason, *, status: str, attempts: int = 0, **fields) -> Feedback:
    """A feedback in any state, with that many (unfinished) attempts, without going through delivery."""
    feedback = Feedback.objects.create(
        lead=lead,
        feedback_type=reason.feedback_type,
        reason=reason,
        reason_text=reason.text,
        status=status,
        attempt_count=attempts,
        **fields,
    )
    for number in range(1, attempts + 1):
        DeliveryAttempt.objects.create(feedback=feedback, number=number, error=f"failure {number}")
    return feedback


def at_once(*calls) -> list:
    """Run the calls in threads released together; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def member(username: str, role: str, **fields) -> User:
    """A user (password "pw") in one of the roles: Agent, Manager or Admin."""
    user = User.objects.create_user(username, password="pw", **fields)
    user.groups.add(Group.objects.get(name=role))
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Every request checks the user's permissions (the role check; the managers' banner): one query,
# feedbackportal/permissions.py.
PERMISSION_QUERIES = 1

# An agent's search (LeadQuerySet.ranked_search): one query.
SEARCH_QUERIES = 1
