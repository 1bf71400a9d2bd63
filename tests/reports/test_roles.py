"""Who reaches what: every page of the portal, for every role (anonymous → login, wrong role → 403)."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from feedbackportal.feedback.models import Status
from tests.reports.conftest import logged_in, member

AGENT_PAGES = ["leads:search", "feedback:for_event", "leads:detail"]
MANAGER_PAGES = [
    "feedback:queue",
    "feedback:detail",
    "reports:rates",
    "reports:history",
    "reports:export",
    "reports:month",
    "reports:audit",
    "reports:reconcile",
]
ADMIN_PAGES = ["admin:index", "admin:feedback_reason_changelist", "admin:feedback_reasonchange_changelist"]
ROLES = ["anonymous", "Agent", "Manager", "Admin"]
# What each role may open; everything else is refused.
ALLOWED = {
    "anonymous": set(),
    "Agent": set(AGENT_PAGES),
    "Manager": {*AGENT_PAGES, *MANAGER_PAGES},
    "Admin": {*AGENT_PAGES, *MANAGER_PAGES, *ADMIN_PAGES},
}


@pytest.fixture
def urls(add_feedback) -> dict[str, str]:
    feedback = add_feedback(status=Status.FAILED)
    with_pk = {"leads:detail": feedback.lead.pk, "feedback:detail": feedback.pk}
    return {
        name: reverse(name, kwargs={"pk": with_pk[name]}) if name in with_pk else reverse(name)
        for name in [*AGENT_PAGES, *MANAGER_PAGES, *ADMIN_PAGES]
    }


def client_for(role: str) -> Client:
    if role == "anonymous":
        return Client()
    return logged_in(member(f"someone-{role.lower()}", role))


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_by_its_lane(db, urls, role):
    client = client_for(role)
    for name, url in urls.items():
        response = client.get(url)
        if name in ALLOWED[role]:
            assert response.status_code == 200, (role, name)
        elif role == "anonymous":
            assert response.status_code == 302, name
            # The admin index sends to the admin's own login form; every other page to the portal's.
            login = reverse("admin:login") if name == "admin:index" else reverse("login")
            assert response["Location"].startswith(login), name
        elif name.startswith("admin:"):
            # The admin site sends anyone without staff access to its own login page, not a 403.
            assert response.status_code == 302, (role, name)
            assert response["Location"].startswith(reverse("admin:login")), (role, name)
        else:
            assert response.status_code == 403, (role, name)


@pytest.mark.parametrize("name", ["reports:history", "reports:rates"])
def test_an_htmx_request_without_a_session_sends_the_whole_page_to_log_in(db, name):
    response = Client().get(reverse(name), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_joining_the_admin_group_opens_the_admin_and_leaving_closes_it(db):
    user = member("newbie", "Agent")
    admins = Group.objects.get(name="Admin")
    assert not user.is_staff

    user.groups.add(admins)
    user.refresh_from_db()
    assert user.is_staff

    user.groups.remove(admins)
    user.refresh_from_db()
    assert not user.is_staff

    admins.user_set.add(user)
    user.refresh_from_db()
    assert user.is_staff

    admins.user_set.clear()
    user.refresh_from_db()
    assert not user.is_staff

    user.groups.set([admins])
    user.refresh_from_db()
    assert user.is_staff


def test_staff_cannot_be_switched_off_for_an_admin_nor_on_for_anyone_else(db):
    admin = member("boss", "Admin")
    agent = member("worker", "Agent")

    User.objects.filter(pk=admin.pk).update(is_staff=False)
    admin.refresh_from_db()
    admin.save()
    agent.is_staff = True
    agent.save()

    admin.refresh_from_db()
    agent.refresh_from_db()
    assert admin.is_staff
    assert not agent.is_staff


def test_superusers_keep_staff_without_the_group(db, admin_user):
    admin_user.groups.set([])
    admin_user.save()
    admin_user.refresh_from_db()
    assert admin_user.is_staff


def test_the_admin_site_gives_admins_the_reason_catalog_and_read_only_history(admin_member_client, add_feedback):
    feedback = add_feedback()
    index = admin_member_client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert admin_member_client.get(reverse("admin:feedback_reason_add")).status_code == 200
    assert admin_member_client.get(reverse("admin:feedback_feedback_change", args=[feedback.pk])).status_code == 200
    assert admin_member_client.get(reverse("admin:leads_lead_changelist")).status_code == 200
    assert admin_member_client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_roles_carry_the_permissions_of_their_lane(db):
    def codes(role: str) -> set[str]:
        perms = Permission.objects.filter(group__name=role).select_related("content_type")
        return {f"{perm.content_type.app_label}.{perm.codename}" for perm in perms}

    manager_perms = {"feedback.resolve_feedback", "feedback.view_reports", "imports.import_data"}
    assert codes("Agent") == set()
    assert codes("Manager") == manager_perms
    admin_extras = {"feedback.change_reason", "feedback.view_reasonchange", "auth.change_user"}
    assert manager_perms | admin_extras <= codes("Admin")
    assert "feedback.change_reasonchange" not in codes("Admin")
