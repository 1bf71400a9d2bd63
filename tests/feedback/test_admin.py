import pytest
from bs4 import BeautifulSoup
from django.db.models import ProtectedError
from django.urls import reverse

from feedbackportal.feedback.admin import ReasonAdmin
from feedbackportal.feedback.forms import FeedbackForm
from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Reason, Status


@pytest.fixture
def used_reason(make_lead, return_reason) -> Reason:
    Feedback.objects.create(
        lead=make_lead(), feedback_type="return", reason=return_reason, reason_text=return_reason.text
    )
    return return_reason


@pytest.fixture
def unused_reason(db) -> Reason:
    return Reason.objects.create(feedback_type="return", label="Moved away", text="Consumer moved away")


def reason_form_data(reason: Reason, **changes) -> dict:
    data = {
        "feedback_type": reason.feedback_type,
        "label": reason.label,
        "text": reason.text,
        "active": "on" if reason.active else "",
        "position": reason.position,
    }
    return {key: value for key, value in (data | changes).items() if value != ""}


def test_a_used_reason_cannot_be_deleted_in_the_admin(admin_client, used_reason):
    url = reverse("admin:feedback_reason_delete", args=[used_reason.pk])

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403

    assert Reason.objects.filter(pk=used_reason.pk).exists()


def test_a_used_reason_has_no_delete_permission(rf, admin_user, used_reason, unused_reason):
    request = rf.get("/")
    request.user = admin_user
    model_admin = ReasonAdmin(Reason, admin_site=None)

    assert not model_admin.has_delete_permission(request, used_reason)
    assert model_admin.has_delete_permission(request, unused_reason)


def test_a_used_reason_cannot_be_deleted_in_bulk_either(admin_client, used_reason, unused_reason):
    response = admin_client.post(
        reverse("admin:feedback_reason_changelist"),
        {"action": "delete_selected", "_selected_action": [used_reason.pk, unused_reason.pk], "post": "yes"},
    )

    assert response.status_code == 200
    assert BeautifulSoup(response.content, "html.parser").h1.get_text() == "Cannot delete reasons"
    assert Reason.objects.filter(pk__in=[used_reason.pk, unused_reason.pk]).count() == 2


def test_the_database_refuses_to_delete_a_used_reason(used_reason):
    with pytest.raises(ProtectedError):
        used_reason.delete()
    with pytest.raises(ProtectedError):
        Reason.objects.filter(pk=used_reason.pk).delete()

    assert Reason.objects.filter(pk=used_reason.pk).exists()


def test_an_unused_reason_can_be_deleted_in_the_admin(admin_client, unused_reason):
    url = reverse("admin:feedback_reason_delete", args=[unused_reason.pk])

    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Reason.objects.filter(pk=unused_reason.pk).exists()


def test_editing_a_used_reasons_text_keeps_the_text_past_feedback_sent(admin_client, used_reason):
    url = reverse("admin:feedback_reason_change", args=[used_reason.pk])

    response = admin_client.post(url, reason_form_data(used_reason, text="Wrong or invalid number"))

    assert response.status_code == 302
    used_reason.refresh_from_db()
    assert used_reason.text == "Wrong or invalid number"
    assert Feedback.objects.get().reason_text == "Wrong number"


def test_a_used_reason_cannot_change_type(admin_client, used_reason):
    url = reverse("admin:feedback_reason_change", args=[used_reason.pk])

    admin_client.post(url, reason_form_data(used_reason, feedback_type="conversion"))

    used_reason.refresh_from_db()
    assert used_reason.feedback_type == "return"


def test_an_unused_reason_can_change_type(admin_client, unused_reason):
    url = reverse("admin:feedback_reason_change", args=[unused_reason.pk])

    response = admin_client.post(url, reason_form_data(unused_reason, feedback_type="conversion"))

    assert response.status_code == 302
    unused_reason.refresh_from_db()
    assert unused_reason.feedback_type == "conversion"


def test_a_used_reason_can_be_deactivated(admin_client, used_reason):
    url = reverse("admin:feedback_reason_change", args=[used_reason.pk])

    response = admin_client.post(url, reason_form_data(used_reason, active=""))

    assert response.status_code == 302
    used_reason.refresh_from_db()
    assert not used_reason.active
    assert Feedback.objects.get().reason == used_reason


def test_deactivated_reasons_are_not_offered(db, return_reason):
    Reason.objects.filter(pk=return_reason.pk).update(active=False)

    assert return_reason not in Reason.objects.active()
    assert Reason.objects.active().filter(feedback_type="return").exists()
    offered = {str(value) for value, _ in FeedbackForm().fields["reason"].choices if value}
    assert offered
    assert str(return_reason.pk) not in offered


def test_the_reason_list_shows_how_often_each_reason_was_used(admin_client, used_reason, unused_reason):
    response = admin_client.get(reverse("admin:feedback_reason_changelist"))

    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    used_count = {
        row.select_one("th, td.field-label").get_text(strip=True): row.select_one("td.field-times_used").get_text()
        for row in soup.select("#result_list tbody tr")
    }
    assert used_count["Wrong number"] == "1"
    assert used_count["Moved away"] == "0"


def test_a_feedback_and_its_attempts_can_be_read_but_not_changed_in_the_admin(admin_client, used_reason):
    feedback = Feedback.objects.get()
    DeliveryAttempt.objects.create(
        feedback=feedback, number=1, response_status=201, response_body='{"outcome":"success"}'
    )
    Feedback.objects.filter(pk=feedback.pk).update(status=Status.ACCEPTED)

    change = admin_client.get(reverse("admin:feedback_feedback_change", args=[feedback.pk]))
    listing = admin_client.get(reverse("admin:feedback_feedback_changelist"))

    assert change.status_code == 200
    assert listing.status_code == 200
    assert "outcome" in change.content.decode()
    assert admin_client.get(reverse("admin:feedback_feedback_add")).status_code == 403
    assert admin_client.get(reverse("admin:feedback_feedback_delete", args=[feedback.pk])).status_code == 403
