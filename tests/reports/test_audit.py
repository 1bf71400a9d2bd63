"""The audit trail: submissions, managers' resolutions and reason catalog edits, append-only, for managers."""

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from feedbackportal.feedback.models import FeedbackAction, Reason, ReasonChange, Status
from feedbackportal.feedback.services import cancel_feedback, resend_feedback
from tests.helpers import PERMISSION_QUERIES
from tests.reports.conftest import at

URL = reverse("reports:audit")


def rows(response) -> list[list[str]]:
    page = BeautifulSoup(response.content, "html.parser")
    return [
        [cell.get_text(" ", strip=True) for cell in row.select("td")][1:] for row in page.select("table.audit tbody tr")
    ]


def reason_form(reason: Reason, **changes) -> dict:
    data = {
        "feedback_type": reason.feedback_type,
        "label": reason.label,
        "text": reason.text,
        "active": "on" if reason.active else "",
        "position": reason.position,
        "hotkey": reason.hotkey or "",
    } | changes
    return {key: value for key, value in data.items() if value != ""}


def test_editing_a_reason_in_the_admin_records_who_changed_what(admin_member_client, admin_member, return_reason):
    url = reverse("admin:feedback_reason_change", args=[return_reason.pk])

    response = admin_member_client.post(url, reason_form(return_reason, text="Wrong or invalid number", active=""))

    assert response.status_code == 302
    change = ReasonChange.objects.get()
    assert (change.reason, change.actor, change.action, change.reason_label) == (
        return_reason,
        admin_member,
        "changed",
        "Wrong number",
    )
    assert change.changes == {"text": ["Wrong number", "Wrong or invalid number"], "active": [True, False]}


def test_saving_a_reason_unchanged_records_nothing(admin_member_client, return_reason):
    url = reverse("admin:feedback_reason_change", args=[return_reason.pk])
    assert admin_member_client.post(url, reason_form(return_reason)).status_code == 302
    assert not ReasonChange.objects.exists()


def test_adding_and_deleting_a_reason_are_recorded(admin_member_client):
    response = admin_member_client.post(
        reverse("admin:feedback_reason_add"),
        {"feedback_type": "return", "label": "Moved away", "text": "Consumer moved", "active": "on", "position": 12},
    )
    assert response.status_code == 302
    reason = Reason.objects.get(label="Moved away")
    admin_member_client.post(reverse("admin:feedback_reason_delete", args=[reason.pk]), {"post": "yes"})

    created, deleted = ReasonChange.objects.order_by("id")
    assert created.action == "created"
    assert created.changes["text"] == [None, "Consumer moved"]
    assert deleted.action == "deleted"
    assert deleted.reason is None
    assert deleted.reason_label == "Moved away"
    assert deleted.changes["label"] == ["Moved away", None]


def test_bulk_deleting_and_list_editing_reasons_are_recorded(admin_member_client):
    spare = Reason.objects.create(feedback_type="return", label="Spare", text="Spare")
    other = Reason.objects.create(feedback_type="return", label="Other", text="Other", position=30)
    changelist = reverse("admin:feedback_reason_changelist")

    admin_member_client.post(changelist, {"action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"})
    reasons = list(Reason.objects.order_by("feedback_type", "position", "label"))
    form = {"form-TOTAL_FORMS": len(reasons), "form-INITIAL_FORMS": len(reasons), "_save": "Save"}
    for index, reason in enumerate(reasons):
        form[f"form-{index}-id"] = reason.pk
        form[f"form-{index}-position"] = 31 if reason == other else reason.position
        if reason.active:
            form[f"form-{index}-active"] = "on"
    assert admin_member_client.post(changelist, form).status_code == 302

    assert [(change.reason_label, change.action) for change in ReasonChange.objects.order_by("id")] == [
        ("Spare", "deleted"),
        ("Other", "changed"),
    ]
    assert ReasonChange.objects.get(action="changed").changes == {"position": [30, 31]}


def test_a_reason_change_cannot_be_changed_or_deleted(manager, return_reason):
    change = ReasonChange.objects.create(
        reason=return_reason, reason_label="x", feedback_type="return", actor=manager, action="changed"
    )
    with pytest.raises(ValueError, match="audit record"):
        change.save()
    with pytest.raises(ValueError, match="audit record"):
        change.delete()


def test_the_admin_shows_reason_changes_read_only(admin_member_client, admin_member, return_reason):
    change = ReasonChange.objects.create(
        reason=return_reason, reason_label="x", feedback_type="return", actor=admin_member, action="changed"
    )
    assert admin_member_client.get(reverse("admin:feedback_reasonchange_changelist")).status_code == 200
    assert admin_member_client.get(reverse("admin:feedback_reasonchange_delete", args=[change.pk])).status_code == 403


@pytest.fixture
def trail(add_feedback, agent, manager, admin_member, return_reason):
    """A submission, a resend and a cancel by a manager, and a reason edit, a minute apart."""
    returned = add_feedback(agent=agent, status=Status.FAILED, created_at=at("2026-03-02 10:00"))
    resend_feedback(feedback=returned, actor=manager, comment="Network is back")
    FeedbackAction.objects.filter(feedback=returned).update(created_at=at("2026-03-02 10:01"))
    returned.refresh_from_db()
    cancel_feedback(feedback=returned, actor=manager, comment="Caller withdrew")
    FeedbackAction.objects.filter(action="cancelled").update(created_at=at("2026-03-02 10:02"))
    ReasonChange.objects.create(
        reason=return_reason,
        reason_label="Wrong number",
        feedback_type="return",
        actor=admin_member,
        action="changed",
        changes={"text": ["Wrong number", "Invalid number"]},
        created_at=at("2026-03-02 10:03"),
    )
    return returned


def test_the_audit_trail_lists_everything_newest_first(manager_client, trail):
    lead = trail.lead.full_name

    assert rows(manager_client.get(URL)) == [
        [
            "Ada Admin",
            "Reason catalog: changed",
            "Return reason “Wrong number”",
            "text : Wrong number → Invalid number",
        ],
        ["Maria Manager", "Cancelled", f"Return of {lead} ( #{trail.pk} )", "Queued → Cancelled: Caller withdrew"],
        ["Maria Manager", "Resent", f"Return of {lead} ( #{trail.pk} )", "Not delivered → Queued: Network is back"],
        ["Alex Agent", "Submitted", f"Return of {lead} ( #{trail.pk} )", "Wrong number"],
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("submitted", ["Submitted"]), ("resent", ["Resent"]), ("reason", ["Reason catalog: changed"])],
)
def test_the_audit_trail_filters_by_kind(manager_client, trail, kind, expected):
    assert [row[1] for row in rows(manager_client.get(URL, {"kind": kind}))] == expected


def test_the_audit_trail_makes_a_fixed_number_of_queries(manager_client, trail, django_assert_num_queries):
    # session, user, permissions, worker heartbeat, the page's count and rows,
    # its actors, feedback with leads, actions and reason changes, the nav link's count
    with django_assert_num_queries(10 + PERMISSION_QUERIES):
        manager_client.get(URL)
