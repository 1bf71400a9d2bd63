import pytest

from feedbackportal.feedback.forms import ResolutionForm
from feedbackportal.feedback.models import (
    LIVE_STATUSES,
    NEEDS_ATTENTION_STATUSES,
    TRANSITIONS,
    ActionKind,
    Feedback,
    FeedbackAction,
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
