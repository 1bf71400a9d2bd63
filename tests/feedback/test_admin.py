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
        "hotkey": reason.hotkey or "",
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


# ---- Hotkeys: each active reason keeps its digit, whatever else changes in the catalog


def digit_keys(client, lead, feedback_type="return"):
    """The lead page's digit → reason label, for one feedback type."""
    page = BeautifulSoup(client.get(lead.get_absolute_url()).content, "html.parser")
    keys = {}
    for radio in page.select(f"fieldset.reasons[data-type={feedback_type}] input[name=reason]"):
        label = radio.find_parent("label")
        kbd = label.find("kbd")
        if kbd is not None:
            keys[kbd.get_text(strip=True)] = Reason.objects.get(pk=radio["value"]).label
    return keys


def test_a_reason_added_with_the_default_order_does_not_take_anyones_digit(admin_client, make_lead):
    lead = make_lead()
    before = digit_keys(admin_client, lead)
    assert before["1"] == "Wrong number"

    response = admin_client.post(
        reverse("admin:feedback_reason_add"),
        {
            "feedback_type": "return",
            "label": "Moved away",
            "text": "Consumer moved away",
            "active": "on",
            "position": 0,
        },
    )

    assert response.status_code == 302
    assert digit_keys(admin_client, lead) == before


def test_a_new_reason_takes_the_next_free_key_and_the_admin_says_which(admin_client, make_lead):
    Reason.objects.filter(label="Language barrier").update(active=False)

    response = admin_client.post(
        reverse("admin:feedback_reason_add"),
        {
            "feedback_type": "return",
            "label": "Moved away",
            "text": "Consumer moved away",
            "active": "on",
            "position": 0,
        },
        follow=True,
    )

    assert Reason.objects.get(label="Moved away").hotkey == 8
    assert digit_keys(admin_client, make_lead())["8"] == "Moved away"
    assert "Agents pick “Moved away” with key 8 (return)." in [str(m) for m in response.context["messages"]]


def test_a_new_reason_gets_no_key_when_all_nine_are_taken_and_stays_pickable(admin_client, make_lead):
    admin_client.post(
        reverse("admin:feedback_reason_add"),
        {
            "feedback_type": "return",
            "label": "Moved away",
            "text": "Consumer moved away",
            "active": "on",
            "position": 0,
        },
    )

    reason = Reason.objects.get(label="Moved away")
    assert reason.hotkey is None
    page = BeautifulSoup(admin_client.get(make_lead().get_absolute_url()).content, "html.parser")
    radio = page.select_one(f"input[name=reason][value='{reason.pk}']")
    assert not radio.has_attr("data-hotkey")
    assert radio.find_parent("label").find("kbd") is None


def test_the_admin_refuses_a_key_another_active_reason_holds(admin_client, return_reason):
    disconnected = Reason.objects.get(label="Disconnected number")
    url = reverse("admin:feedback_reason_change", args=[disconnected.pk])

    response = admin_client.post(url, reason_form_data(disconnected, hotkey=return_reason.hotkey))

    assert response.status_code == 200
    errors = BeautifulSoup(response.content, "html.parser").select_one(".field-hotkey .errorlist").get_text()
    assert "Key 1 already picks “Wrong number” for agents" in errors
    disconnected.refresh_from_db()
    assert disconnected.hotkey == 2


def test_switching_a_reason_on_in_the_list_cannot_take_a_held_key(admin_client):
    language = Reason.objects.get(label="Language barrier")
    Reason.objects.filter(pk=language.pk).update(active=False)
    Reason.objects.create(feedback_type="return", label="Moved away", text="Moved away")  # takes the freed 8
    reasons = list(Reason.objects.order_by("feedback_type", "position", "label"))
    form = {"form-TOTAL_FORMS": len(reasons), "form-INITIAL_FORMS": len(reasons), "_save": "Save"}
    for index, reason in enumerate(reasons):
        form[f"form-{index}-id"] = reason.pk
        form[f"form-{index}-position"] = reason.position
        if reason.active or reason == language:
            form[f"form-{index}-active"] = "on"

    response = admin_client.post(reverse("admin:feedback_reason_changelist"), form)

    assert response.status_code == 200
    assert "Key 8 already picks “Moved away” for agents" in response.content.decode()
    assert not Reason.objects.get(pk=language.pk).active


def test_a_second_duplicate_reason_of_a_type_is_refused(admin_client):
    other = Reason.objects.get(label="Wrong number")
    url = reverse("admin:feedback_reason_change", args=[other.pk])

    response = admin_client.post(url, reason_form_data(other, is_duplicate_reason="on"))

    assert response.status_code == 200
    assert "“Duplicate lead” is already the duplicate reason for this type" in response.content.decode()
    assert list(Reason.objects.filter(is_duplicate_reason=True).values_list("label", flat=True)) == ["Duplicate lead"]


def test_moving_a_key_agents_use_warns_the_admin(admin_client):
    language = Reason.objects.get(label="Language barrier")
    Reason.objects.filter(label="Already a customer").update(active=False)
    url = reverse("admin:feedback_reason_change", args=[language.pk])

    response = admin_client.post(url, reason_form_data(language, hotkey=9), follow=True)

    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [
        "Agents used key 8 to pick “Language barrier” (return); now key 9 does. Tell the agents before they "
        "next send one: a habit of pressing the old digit now sends something else."
    ]
    assert Reason.objects.get(pk=language.pk).hotkey == 9


def test_deactivating_a_keyed_reason_warns_and_editing_its_text_does_not(admin_client, return_reason):
    url = reverse("admin:feedback_reason_change", args=[return_reason.pk])

    reworded = admin_client.post(url, reason_form_data(return_reason, text="Invalid number"), follow=True)
    return_reason.refresh_from_db()
    switched_off = admin_client.post(url, reason_form_data(return_reason, active=""), follow=True)

    assert [m for m in reworded.context["messages"] if m.level_tag == "warning"] == []
    assert next(str(m) for m in switched_off.context["messages"] if m.level_tag == "warning").startswith(
        "Agents used key 1 to pick “Wrong number” (return); it has no key now."
    )


def test_moving_a_keyed_reason_to_the_other_type_warns_even_with_the_same_digit(admin_client):
    Reason.objects.filter(label="Language barrier").update(active=False)  # frees return key 8
    spare = Reason.objects.create(feedback_type="conversion", label="Callback", text="Callback", hotkey=8)
    url = reverse("admin:feedback_reason_change", args=[spare.pk])

    response = admin_client.post(url, reason_form_data(spare, feedback_type="return"), follow=True)

    assert (Reason.objects.get(pk=spare.pk).feedback_type, Reason.objects.get(pk=spare.pk).hotkey) == ("return", 8)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1
    expected = "Agents used key 8 to pick “Callback” (conversion); now key 8 does, as a return reason."
    assert warnings[0].startswith(expected)


def test_reordering_reasons_never_changes_a_key(admin_client, make_lead):
    lead = make_lead()
    before = digit_keys(admin_client, lead)
    reasons = list(Reason.objects.order_by("feedback_type", "position", "label"))
    form = {"form-TOTAL_FORMS": len(reasons), "form-INITIAL_FORMS": len(reasons), "_save": "Save"}
    for index, reason in enumerate(reasons):
        form[f"form-{index}-id"] = reason.pk
        form[f"form-{index}-position"] = 100 - reason.position  # the whole list upside down
        form[f"form-{index}-active"] = "on"

    assert admin_client.post(reverse("admin:feedback_reason_changelist"), form).status_code == 302

    labels = [label for _, label in sorted(digit_keys(admin_client, lead).items(), key=lambda item: item[0])]
    assert digit_keys(admin_client, lead) == before
    assert labels == [before[key] for key in sorted(before)]


def test_the_reason_list_shows_each_reasons_key(admin_client):
    page = BeautifulSoup(admin_client.get(reverse("admin:feedback_reason_changelist")).content, "html.parser")
    keys = {
        row.select_one("th, td.field-label").get_text(strip=True): row.select_one("td.field-hotkey").get_text()
        for row in page.select("#result_list tbody tr")
    }
    assert keys["Wrong number"] == "1"
    assert keys["Already a customer"] == "9"
    assert keys["Sale closed"] == "1"
