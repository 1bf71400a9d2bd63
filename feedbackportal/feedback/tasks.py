from django.tasks import task

from feedbackportal.feedback import delivery


@task()
def deliver(feedback_id: int) -> str:
    """Send one feedback to LeadConduit (runs in the worker, never in a web request)."""
    return delivery.deliver_feedback(feedback_id)
