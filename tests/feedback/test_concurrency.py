"""Two agents (or two tabs, or a double click) at the same instant: one live feedback, one call."""

import uuid

import pytest

from feedbackportal.feedback.models import Feedback
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import at_once

REPETITIONS = 20


@pytest.mark.django_db(transaction=True)
def test_two_agents_returning_one_lead_at_once_make_one_feedback_and_one_call(
    sandbox_url, make_event, make_lead, return_reason, run_worker
):
    leads = []
    for _ in range(REPETITIONS):
        event = make_event()
        lead = make_lead(event_id=event.event_id)
        leads.append(lead)

        def submit(lead=lead):
            return submit_feedback(
                lead=lead, feedback_type="return", reason=return_reason, idempotency_key=uuid.uuid4()
            )

        results = at_once(submit, submit)
        created = [r for r in results if isinstance(r, Feedback)]
        refused = [r for r in results if isinstance(r, FeedbackRefused)]
        assert (len(created), len(refused)) == (1, 1), results
        assert refused[0].existing == created[0]
        assert Feedback.objects.filter(lead=lead).count() == 1

    run_worker()
    for lead in leads:
        assert SandboxCall.objects.filter(event_id=lead.event_id).count() == 1
        assert Feedback.objects.get(lead=lead).status == "accepted"


@pytest.mark.django_db(transaction=True)
def test_a_double_click_with_one_idempotency_key_returns_the_same_feedback(make_lead, return_reason):
    for _ in range(REPETITIONS):
        lead = make_lead()
        key = uuid.uuid4()

        def submit(lead=lead, key=key):
            return submit_feedback(lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)

        first, second = at_once(submit, submit)
        assert isinstance(first, Feedback), first
        assert isinstance(second, Feedback), second
        assert first.pk == second.pk
        assert Feedback.objects.filter(lead=lead).count() == 1
