"""The delivery task and the one way to enqueue it.

Import order runs one way: services and the sweeper import this module, this module imports
delivery, and delivery imports neither (it is handed ``enqueue_delivery`` for its retries).
"""

from datetime import datetime

from django.tasks import task

from feedbackportal.feedback import delivery
from feedbackportal.feedback.models import Feedback


@task()
def deliver(feedback_id: int) -> str:
    """Send one feedback to LeadConduit (runs in the worker, never in a web request)."""
    return deliver_now(feedback_id)


def deliver_now(feedback_id: int) -> str:
    """Deliver in this process, with the worker's code (the send_feedback command and tests use it)."""
    return delivery.deliver_feedback(feedback_id, enqueue_retry=enqueue_delivery)


def enqueue_delivery(feedback: Feedback, run_after: datetime | None = None) -> str:
    """Enqueue the delivery of ``feedback`` and store the task's id on the row and the instance.

    Call it inside the transaction that makes the feedback due: the database task backend then
    commits the task together with the status change, or neither.
    """
    queued = (deliver.using(run_after=run_after) if run_after is not None else deliver).enqueue(feedback.pk)
    feedback.task_id = str(queued.id)
    Feedback.objects.filter(pk=feedback.pk).update(task_id=feedback.task_id)
    return feedback.task_id
