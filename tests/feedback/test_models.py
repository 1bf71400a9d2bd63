import pytest
from django.db import IntegrityError, transaction

from feedbackportal.feedback.forms import ResolutionForm
from feedbackportal.feedback.models import (
    LIVE_STATUSES,
    NEEDS_ATTENTION_STATUSES,
    TRANSITIONS,
    ActionKind,
    Feedback,
    FeedbackAction,
    Reason,
    ReasonChange,
    Status,
)


@pytest.mark.parametrize("status", Status.values)
def test_its_predicates_follow_the_status_sets(status):
    feedback = Feedback(status=status)

    assert feedback.is_live == (status in LIVE_STATUSES)
    assert feedback.needs_attention == (status in NEEDS_ATTENTION_STATUSES)
    assert feedback.allowed_actions == [a for a, t in TRANSITIONS.items() if status in t.from_statuses]


def test_resending_needs_a_comment_only_when_leadconduit_may_have_it():
    assert Feedback(status=Status.UNCONFIRMED).comment_required_for(ActionKind.RESENT)
    assert not Feedback(status=Status.FAILED).comment_required_for(ActionKind.RESENT)
    assert Feedback(status=Status.FAILED).actions_needing_comment == [ActionKind.CONFIRMED, ActionKind.CANCELLED]


def test_every_action_kind_has_a_transition():
    assert set(TRANSITIONS) == set(ActionKind.values)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [("failed/3", (Status.FAILED, 3)), ("bogus/3", (Status.UNCONFIRMED, 1)), ("failed/٣", (Status.UNCONFIRMED, 1))],
)
def test_the_resolution_form_applies_only_a_well_formed_seen_version(seen, expected):
    form = ResolutionForm({"seen": seen, "comment": " checked "})
    assert form.is_valid()

    feedback = form.as_seen(Feedback(status=Status.UNCONFIRMED, attempt_count=1))

    assert (feedback.status, feedback.attempt_count) == expected
    assert form.cleaned_data["comment"] == " checked "  # the service strips and judges it


@pytest.mark.django_db
@pytest.mark.parametrize("model", [FeedbackAction, ReasonChange])
def test_audit_records_cannot_be_changed_or_deleted(model):
    record = model()
    record._state.adding = False

    with pytest.raises(ValueError, match="audit record; it cannot be changed"):
        record.save()
    with pytest.raises(ValueError, match="audit record; it cannot be deleted"):
        record.delete()


# ---- Reason keys


@pytest.mark.django_db
def test_the_database_refuses_two_active_reasons_of_a_type_with_one_key():
    with pytest.raises(IntegrityError), transaction.atomic():
        Reason.objects.create(feedback_type="return", label="Moved away", text="Moved away", hotkey=1)


@pytest.mark.django_db
def test_an_inactive_reason_keeps_its_key_without_holding_it():
    Reason.objects.filter(label="Wrong number").update(active=False)

    Reason.objects.create(feedback_type="return", label="Invalid number", text="Invalid number", hotkey=1)

    assert Reason.objects.get(label="Wrong number").hotkey == 1
    assert Reason.objects.active().for_type("return").get(hotkey=1).label == "Invalid number"


@pytest.mark.django_db
def test_keys_are_per_type():
    assert Reason.objects.get(feedback_type="conversion", label="Sale closed").hotkey == 1
    assert Reason.objects.get(feedback_type="return", label="Wrong number").hotkey == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", [0, 10])
def test_a_key_is_a_digit_from_1_to_9(key):
    with pytest.raises(IntegrityError), transaction.atomic():
        Reason.objects.create(feedback_type="conversion", label="Odd", text="Odd", hotkey=key)


@pytest.mark.django_db
def test_a_new_reason_takes_the_lowest_free_key_of_its_type():
    Reason.objects.filter(label__in=["Duplicate lead", "Under 18"]).update(active=False)

    first = Reason.objects.create(feedback_type="return", label="Moved away", text="Moved away")
    second = Reason.objects.create(feedback_type="return", label="Deceased", text="Deceased")
    third = Reason.objects.create(feedback_type="return", label="Prank", text="Prank")
    asleep = Reason.objects.create(feedback_type="conversion", label="Later", text="Later", active=False)

    assert (first.hotkey, second.hotkey, third.hotkey, asleep.hotkey) == (3, 6, None, None)


@pytest.mark.django_db
def test_at_most_one_reason_per_type_is_the_duplicate_reason():
    assert Reason.objects.get(is_duplicate_reason=True).label == "Duplicate lead"
    Reason.objects.create(feedback_type="conversion", label="Dup", text="Dup", is_duplicate_reason=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Reason.objects.create(feedback_type="return", label="Copy", text="Copy", is_duplicate_reason=True)


@pytest.mark.parametrize(
    "detail",
    [
        "LeadConduit refused the request: HTTP 400 Body is not parsable as application/json -- Unexpected token",
        "LeadConduit had a problem recording it: Internal platform error (ref 8812).",
    ],
)
def test_an_error_tells_the_agent_what_happened_and_what_to_do_without_the_technical_detail(detail):
    feedback = Feedback(status=Status.ERROR, feedback_type="return", status_message=detail)

    message = feedback.agent_message

    assert message == (
        "LeadConduit could not record this return. A manager will check it and send it again if needed; "
        "do not send it again yourself."
    )
    assert feedback.needs_attention
