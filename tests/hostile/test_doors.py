"""The probe of issue 9, items 1-3, replayed: escalation through the user admin, a signed-in user with
no role, and 200 wrong passwords in a row. Each must keep failing for the attacker."""

import uuid

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.leads.models import Lead
from tests.feedback.test_user_admin import form_data
from tests.helpers import logged_in, make_feedback, member

WRONG_PASSWORDS = 200


# ---- 1. An Admin-role user cannot make itself (or anyone) more than an Admin


def test_an_admin_posting_every_escalation_field_at_once_gains_nothing(db):
    admin = member("mallory", "Admin")
    client = logged_in(admin)
    staff_only = Group.objects.create(name="Everything")
    staff_only.permissions.set(Permission.objects.all())
    url = reverse("admin:auth_user_change", args=[admin.pk])
    hostile = {
        "is_superuser": "on",
        "is_staff": "on",
        "user_permissions": [str(pk) for pk in Permission.objects.values_list("pk", flat=True)],
    }
    assert client.post(url, form_data(client, url, **hostile)).status_code == 302
    client.post(url, form_data(client, url, groups=[str(staff_only.pk)]))
    admin.refresh_from_db()
    assert not admin.is_superuser
    assert not admin.user_permissions.exists()
    assert not admin.groups.filter(name="Everything").exists()
    assert not admin.has_perm("auth.change_group")


def test_an_admin_cannot_take_over_a_superuser(db, admin_user):
    client = logged_in(member("mallory", "Admin"))
    password_url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    new_password = {"password1": "mallory-owns-this-now-1", "password2": "mallory-owns-this-now-1"}
    assert client.post(password_url, new_password).status_code == 403
    change_url = reverse("admin:auth_user_change", args=[admin_user.pk])
    assert client.post(change_url, {"username": "admin", "is_active": ""}).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.check_password("password")
    assert admin_user.is_active


# ---- 2. Default deny: signed in is not enough


def test_a_signed_in_user_with_no_role_can_read_and_send_nothing(db, make_lead, return_reason):
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.ACCEPTED)
    client = logged_in(User.objects.create_user("nobody", password="pw"))
    for url in (
        reverse("leads:search") + f"?q={lead.last_name}",
        lead.get_absolute_url(),
        reverse("feedback:for_event") + f"?event_id={lead.event_id}",
        reverse("feedback:status", kwargs={"pk": feedback.pk}),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert lead.last_name not in response.content.decode(), url
    data = {"feedback_type": "return", "reason": return_reason.pk, "idempotency_key": str(uuid.uuid4())}
    assert client.post(reverse("feedback:create", kwargs={"lead_pk": lead.pk}), data).status_code == 403
    unknown = {**data, "event_id": "abcdef0123456789abcdef01", "idempotency_key": str(uuid.uuid4())}
    assert client.post(reverse("feedback:for_event"), unknown).status_code == 403
    assert list(Feedback.objects.all()) == [feedback]
    assert not Lead.objects.filter(event_id="abcdef0123456789abcdef01").exists()


# ---- 3. Login throttling


@pytest.mark.parametrize("login", ["login", "admin:login"])
def test_two_hundred_wrong_passwords_lock_the_account_and_leave_a_bounded_record(db, settings, login):
    member("victim", "Admin")
    attacker = Client()
    statuses = [
        attacker.post(reverse(login), {"username": "victim", "password": f"guess-{n}"}).status_code
        for n in range(WRONG_PASSWORDS)
    ]
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, "didn't match"
    assert set(statuses[limit - 1 :]) == {429}  # locked from the limit on
    right = attacker.post(reverse(login), {"username": "victim", "password": "pw"})
    assert right.status_code == 429
    assert "_auth_user_id" not in attacker.session
    # Tries made while locked are refused unrecorded: one row, the limit's failures, no growth.
    attempt = AccessAttempt.objects.get()
    assert attempt.failures_since_start == limit
    assert len(attempt.post_data) < 2_000
    assert AccessFailureLog.objects.count() == limit
    # Someone else, from another address, is not affected.
    member("bystander", "Agent")
    other = Client(REMOTE_ADDR="203.0.113.50")
    assert other.post(reverse("login"), {"username": "bystander", "password": "pw"}).status_code == 302
