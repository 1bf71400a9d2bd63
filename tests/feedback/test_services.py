import threading
import uuid
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback import services
from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback, submit_feedback_for_event
from feedbackportal.leads.models import Lead
from feedbackportal.sandbox.models import SandboxCall

live_db = pytest.mark.django_db(transaction=True)


class EnqueueFailed(Exception):
    pass


@pytest.mark.django_db
def test_it_records_a_queued_feedback_with_the_catalog_text_and_its_delivery_task(make_lead, agent):
    lead = make_lead()
    reason = Reason.objects.get(feedback_type="return", label="Did not request information")

    feedback = submit_feedback(lead=lead, feedback_type="return", reason=reason, note="  caller hung up ", agent=agent)

    feedback.refresh_from_db()
    assert feedback.status == Status.QUEUED
    assert feedback.reason == reason
    assert feedback.reason_text == "Consumer did not request information"
    assert feedback.note == "caller hung up"
    assert feedback.agent == agent
    task = DBTaskResult.objects.get()
    assert task.task_path == "feedbackportal.feedback.tasks.deliver"
    assert task.args_kwargs == {"args": [feedback.pk], "kwargs": {}}
    assert feedback.task_id == str(task.id)


@pytest.mark.django_db
def test_it_leaves_no_feedback_when_enqueueing_fails(make_lead, return_reason):
    lead = make_lead()
    with mock.patch.object(services, "enqueue_delivery", autospec=True) as enqueue_delivery:
        enqueue_delivery.side_effect = EnqueueFailed("queue is down")
        with pytest.raises(EnqueueFailed):
            submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    assert not Feedback.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_it_leaves_no_task_when_the_feedback_cannot_be_completed(make_lead, return_reason):
    lead = make_lead()
    real_enqueue = services.enqueue_delivery

    def enqueue_then_fail(feedback, run_after=None):
        real_enqueue(feedback, run_after)
        assert DBTaskResult.objects.count() == 1
        raise EnqueueFailed("crashed after enqueueing")

    with mock.patch.object(services, "enqueue_delivery", autospec=True) as enqueue_delivery:
        enqueue_delivery.side_effect = enqueue_then_fail
        with pytest.raises(EnqueueFailed):
            submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    assert not Feedback.objects.exists()
    assert not DBTaskResult.objects.exists()


@live_db
def test_the_web_side_never_calls_leadconduit(sandbox_url, lead_with_event, return_reason, conversion_reason):
    submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)
    submit_feedback_for_event(event_id="ab" * 12, feedback_type="conversion", reason=conversion_reason)

    assert Feedback.objects.count() == 2
    assert SandboxCall.objects.count() == 0


@pytest.mark.django_db
def test_a_repeated_idempotency_key_returns_the_first_feedback_and_creates_nothing(make_lead, return_reason):
    lead = make_lead()
    key = uuid.uuid4()
    first = submit_feedback(lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)

    again = submit_feedback(lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)

    assert again.pk == first.pk
    assert Feedback.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db
def test_a_repeated_idempotency_key_wins_even_after_the_first_feedback_was_rejected(make_lead, return_reason):
    lead = make_lead()
    key = uuid.uuid4()
    first = submit_feedback(lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)
    Feedback.objects.filter(pk=first.pk).update(status=Status.REJECTED)

    again = submit_feedback(lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)

    assert again.pk == first.pk
    assert Feedback.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_second_live_return_for_the_same_lead(make_lead, return_reason):
    lead = make_lead()
    first = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)
    other = Reason.objects.get(feedback_type="return", label="Duplicate lead")

    with pytest.raises(FeedbackRefused) as refused:
        submit_feedback(lead=lead, feedback_type="return", reason=other)

    assert refused.value.existing == first
    assert "already has a return" in refused.value.message
    assert Feedback.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("live_status", [Status.SENDING, Status.RETRYING, Status.ACCEPTED, Status.UNCONFIRMED])
def test_it_refuses_a_return_while_another_is_live(make_lead, return_reason, live_status):
    lead = make_lead()
    first = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)
    Feedback.objects.filter(pk=first.pk).update(status=live_status)

    with pytest.raises(FeedbackRefused) as refused:
        submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    assert refused.value.existing == first


@pytest.mark.django_db
@pytest.mark.parametrize("ended_status", [Status.REJECTED, Status.ERROR, Status.FAILED])
def test_it_allows_a_new_return_after_one_that_did_not_stand(make_lead, return_reason, ended_status):
    lead = make_lead()
    first = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)
    Feedback.objects.filter(pk=first.pk).update(status=ended_status)

    second = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    assert second.pk != first.pk
    assert second.status == Status.QUEUED
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db
def test_a_conversion_and_a_return_are_independent(make_lead, return_reason, conversion_reason):
    lead = make_lead()
    returned = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    converted = submit_feedback(lead=lead, feedback_type="conversion", reason=conversion_reason)

    assert {returned.feedback_type, converted.feedback_type} == {"return", "conversion"}
    assert Feedback.objects.live().filter(lead=lead).count() == 2


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_feedback_of_one_type(make_lead, return_reason):
    lead = make_lead()
    Feedback.objects.create(lead=lead, feedback_type="return", reason=return_reason, status=Status.ACCEPTED)

    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(lead=lead, feedback_type="return", reason=return_reason, status=Status.QUEUED)

    Feedback.objects.create(lead=lead, feedback_type="return", reason=return_reason, status=Status.REJECTED)
    Feedback.objects.create(lead=lead, feedback_type="conversion", status=Status.QUEUED)
    assert Feedback.objects.count() == 3


@pytest.mark.django_db
def test_it_refuses_a_return_without_a_reason(make_lead):
    with pytest.raises(FeedbackRefused, match="Choose a reason"):
        submit_feedback(lead=make_lead(), feedback_type="return", reason=None)

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_it_allows_a_conversion_without_a_reason(make_lead):
    feedback = submit_feedback(lead=make_lead(), feedback_type="conversion", reason=None)

    assert feedback.reason is None
    assert feedback.reason_text == ""
    assert feedback.status == Status.QUEUED


@pytest.mark.django_db
def test_it_refuses_an_inactive_reason(make_lead, return_reason):
    Reason.objects.filter(pk=return_reason.pk).update(active=False)
    return_reason.refresh_from_db()

    with pytest.raises(FeedbackRefused, match="no longer in use"):
        submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_reason_deactivated_after_it_was_loaded(make_lead, return_reason):
    Reason.objects.filter(pk=return_reason.pk).update(active=False)

    with pytest.raises(FeedbackRefused, match="no longer in use"):
        submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_reason_of_the_other_type(make_lead, return_reason, conversion_reason):
    lead = make_lead()
    with pytest.raises(FeedbackRefused, match="not a return reason"):
        submit_feedback(lead=lead, feedback_type="return", reason=conversion_reason)
    with pytest.raises(FeedbackRefused, match="not a conversion reason"):
        submit_feedback(lead=lead, feedback_type="conversion", reason=return_reason)

    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_unknown_type(make_lead, return_reason):
    with pytest.raises(FeedbackRefused, match="Return or Conversion"):
        submit_feedback(lead=make_lead(), feedback_type="refund", reason=return_reason)


@pytest.mark.django_db
def test_feedback_for_an_unknown_event_creates_a_placeholder_lead(return_reason):
    feedback = submit_feedback_for_event(
        event_id="  5AF4B98AA8065FA3A79BF4B3 ", feedback_type="return", reason=return_reason
    )

    lead = Lead.objects.get()
    assert feedback.lead == lead
    assert lead.event_id == "5af4b98aa8065fa3a79bf4b3"
    assert lead.is_placeholder
    assert feedback.status == Status.QUEUED


@pytest.mark.django_db
def test_feedback_for_a_known_event_reuses_its_lead(make_lead, return_reason):
    lead = make_lead(event_id="5af4b98aa8065fa3a79bf4b3", first_name="Kim")

    feedback = submit_feedback_for_event(
        event_id="5AF4B98AA8065FA3A79BF4B3", feedback_type="return", reason=return_reason
    )

    assert feedback.lead == lead
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.first_name == "Kim"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "event_id", ["", "5af4b98aa8065fa3a79bf4b", "5af4b98aa8065fa3a79bf4bz", "5af4b98aa8065fa3a79bf4b31"]
)
def test_feedback_for_a_malformed_event_id_is_refused(return_reason, event_id):
    with pytest.raises(FeedbackRefused, match="24 characters"):
        submit_feedback_for_event(event_id=event_id, feedback_type="return", reason=return_reason)

    assert not Lead.objects.exists()
    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_a_refused_feedback_for_an_unknown_event_leaves_no_placeholder_lead():
    with pytest.raises(FeedbackRefused):
        submit_feedback_for_event(event_id="ab" * 12, feedback_type="return", reason=None)

    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_it_copies_the_catalog_text_as_it_is_now_not_as_the_caller_loaded_it(make_lead, return_reason):
    Reason.objects.filter(pk=return_reason.pk).update(text="Wrong number (reworded)")

    feedback = submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)

    assert Feedback.objects.get(pk=feedback.pk).reason_text == "Wrong number (reworded)"


@pytest.mark.django_db
def test_it_refuses_a_reason_deleted_after_it_was_loaded(make_lead):
    reason = Reason.objects.create(feedback_type="return", label="Gone", text="Gone")
    Reason.objects.filter(pk=reason.pk).delete()

    with pytest.raises(FeedbackRefused, match="no longer in use"):
        submit_feedback(lead=make_lead(), feedback_type="return", reason=reason)


@pytest.mark.django_db
def test_feedback_for_an_event_that_already_has_a_live_return_is_refused(return_reason):
    first = submit_feedback_for_event(event_id="ab" * 12, feedback_type="return", reason=return_reason)

    with pytest.raises(FeedbackRefused) as refused:
        submit_feedback_for_event(event_id="AB" * 12, feedback_type="return", reason=return_reason)

    assert refused.value.existing == first
    assert Lead.objects.count() == 1
    assert Feedback.objects.count() == 1


def submit_at_once(submissions: int, **kwargs) -> list[Feedback | FeedbackRefused]:
    """Run the same submission from several threads (several web processes) at the same moment."""
    start = threading.Barrier(submissions)
    results: list[Feedback | FeedbackRefused] = []

    def submit() -> None:
        try:
            start.wait()
            results.append(submit_feedback(**kwargs))
        except FeedbackRefused as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@live_db
def test_two_agents_returning_one_lead_at_once_record_one_return(make_lead, return_reason):
    lead = make_lead()

    results = submit_at_once(3, lead=lead, feedback_type="return", reason=return_reason)

    recorded = Feedback.objects.get()
    assert DBTaskResult.objects.count() == 1
    assert sum(isinstance(result, Feedback) for result in results) == 1
    refusals = [result for result in results if isinstance(result, FeedbackRefused)]
    assert len(refusals) == 2
    assert all(refusal.existing == recorded for refusal in refusals)


@live_db
def test_a_double_click_records_one_return_and_answers_both_clicks_with_it(make_lead, return_reason):
    lead = make_lead()
    key = uuid.uuid4()

    results = submit_at_once(2, lead=lead, feedback_type="return", reason=return_reason, idempotency_key=key)

    recorded = Feedback.objects.get()
    assert DBTaskResult.objects.count() == 1
    assert results == [recorded, recorded]
