from collections.abc import Callable
from datetime import datetime

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from feedbackportal.feedback.models import Feedback, FeedbackType, Reason, Status
from feedbackportal.leads.models import Lead


def member(username: str, role: str, **fields) -> User:
    user = User.objects.create_user(username, password="pw", **fields)
    user.groups.add(Group.objects.get(name=role))
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_member(db) -> User:
    return member("admin1", "Admin", first_name="Ada", last_name="Admin")


@pytest.fixture
def admin_member_client(admin_member) -> Client:
    return logged_in(admin_member)


def at(text: str) -> datetime:
    """An aware datetime in the portal's time zone from "2026-03-02 10:00"."""
    return timezone.make_aware(datetime.fromisoformat(text))


@pytest.fixture
def add_feedback(make_lead) -> Callable[..., Feedback]:
    """A feedback in any state, with its lead made on the fly (status accepted unless said)."""

    def add(
        feedback_type: str = FeedbackType.RETURN,
        *,
        lead: Lead | None = None,
        reason: Reason | None = None,
        status: str = Status.ACCEPTED,
        created_at: datetime | None = None,
        received_at: datetime | None = None,
        **fields,
    ) -> Feedback:
        if lead is None:
            lead = make_lead(**({"received_at": received_at} if received_at else {}))
        if reason is None:
            reason = Reason.objects.filter(feedback_type=feedback_type).order_by("position").first()
        outcome = {Status.ACCEPTED.value: "success", Status.REJECTED.value: "failure"}.get(status, "")
        defaults = {"outcome": outcome, "created_at": created_at or timezone.now()}
        return Feedback.objects.create(
            lead=lead,
            feedback_type=feedback_type,
            reason=reason,
            reason_text=reason.text if reason else "",
            status=status,
            **(defaults | fields),
        )

    return add
