import pytest

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.sandbox.models import SandboxCall


@pytest.mark.django_db(transaction=True)
def test_a_return_travels_from_service_to_sandbox_and_back(
    sandbox_url, lead_with_event, return_reason, agent, run_worker
):
    feedback = submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason, agent=agent)
    assert feedback.status == Status.QUEUED
    run_worker()
    feedback = Feedback.objects.get(pk=feedback.pk)
    assert feedback.status == Status.ACCEPTED
    assert SandboxCall.objects.get().body == '{"type": "return", "reason": "Wrong number"}'
