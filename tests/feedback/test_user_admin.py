"""Users in the Django admin: an Admin-role user manages people within the three roles, never above them."""

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from tests.helpers import member

ROLE_NAMES = {"Agent", "Manager", "Admin"}


def change_url(user: User) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def form_data(client: Client, url: str, **fields) -> dict:
    """What a browser would post from the form at this URL as it stands, with these fields changed.

    A field given as "" is left out (an unticked checkbox).
    """
    page = BeautifulSoup(client.get(url).content, "html.parser")
    form = page.select_one("form#user_form")
    assert form is not None, url
    data: dict[str, str | list[str]] = {}
    for field in form.select("input[name]"):
        kind = field.get("type", "text")
        if kind in ("checkbox", "radio") and not field.has_attr("checked"):
            continue
        if kind not in ("submit", "button", "file"):
            default = "on" if kind in ("checkbox", "radio") else ""  # what a browser sends without a value
            data[str(field["name"])] = str(field.get("value", default))
    for select in form.select("select[name]"):
        chosen = [str(option.get("value", "")) for option in select.select("option[selected]")]
        data[str(select["name"])] = chosen if select.has_attr("multiple") else (chosen[0] if chosen else "")
    return {key: value for key, value in (data | fields).items() if value != ""}


def input_names(response) -> set[str]:
    page = BeautifulSoup(response.content, "html.parser")
    form = page.select_one("form#user_form")
    assert form is not None
    return {str(field["name"]) for field in form.select("input[name], select[name], textarea[name]")}


@pytest.fixture
def agent_user(db) -> User:
    return member("agent7", "Agent", first_name="Al", last_name="Agent")


def test_an_admin_posting_its_own_form_with_superuser_on_stays_an_admin(admin_member, admin_member_client):
    every_permission = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    url = change_url(admin_member)
    data = form_data(admin_member_client, url, is_superuser="on", is_staff="on", user_permissions=every_permission)
    response = admin_member_client.post(url, data)
    assert response.status_code == 302  # saved: only the hostile fields were ignored
    admin_member.refresh_from_db()
    assert not admin_member.is_superuser
    assert not admin_member.user_permissions.exists()
    assert {group.name for group in admin_member.groups.all()} == {"Admin"}


def test_an_admin_cannot_give_anyone_superuser_or_permissions(admin_member_client, agent_user):
    permission = Permission.objects.get(codename="change_group")
    url = change_url(agent_user)
    data = form_data(admin_member_client, url, is_superuser="on", user_permissions=[str(permission.pk)])
    assert admin_member_client.post(url, data).status_code == 302
    agent_user.refresh_from_db()
    assert not agent_user.is_superuser
    assert not agent_user.is_staff
    assert not agent_user.user_permissions.exists()


def test_an_admin_cannot_put_anyone_in_a_group_other_than_the_three_roles(admin_member_client, agent_user):
    auditors = Group.objects.create(name="Auditors")
    auditors.permissions.add(Permission.objects.get(codename="change_group"))
    response = admin_member_client.post(
        change_url(agent_user), form_data(admin_member_client, change_url(agent_user), groups=[str(auditors.pk)])
    )
    assert response.status_code == 200  # the form again, with the error
    agent_user.refresh_from_db()
    assert {group.name for group in agent_user.groups.all()} == {"Agent"}


def test_an_admin_sees_only_the_three_roles_and_no_superuser_or_permission_fields(admin_member_client, agent_user):
    Group.objects.create(name="Auditors")
    response = admin_member_client.get(change_url(agent_user))
    assert response.status_code == 200
    names = input_names(response)
    assert {"username", "is_active", "groups"} <= names
    assert not names & {"is_superuser", "is_staff", "user_permissions"}
    page = BeautifulSoup(response.content, "html.parser")
    offered = {option.get_text(strip=True) for option in page.select("select[name=groups] option")}
    assert offered == ROLE_NAMES


def test_an_admin_cannot_change_a_superuser_nor_reset_its_password_nor_delete_it(admin_member_client, admin_user):
    data = {"username": admin_user.username, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    assert admin_member_client.get(change_url(admin_user)).status_code == 200  # read-only view
    assert "is_active" not in input_names(admin_member_client.get(change_url(admin_user)))
    assert admin_member_client.post(change_url(admin_user), data).status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    password_data = {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"}
    assert admin_member_client.post(password_url, password_data).status_code == 403
    delete_url = reverse("admin:auth_user_delete", args=[admin_user.pk])
    assert admin_member_client.post(delete_url, {"post": "yes"}).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert admin_user.check_password("password")


def test_an_admin_creates_a_user_with_a_role(admin_member_client):
    manager = Group.objects.get(name="Manager")
    response = admin_member_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newagent",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
            "groups": [str(manager.pk)],
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newagent")
    assert user.check_password("a-long-enough-passphrase-7")
    assert [group.name for group in user.groups.all()] == ["Manager"]
    assert not user.is_superuser
    assert not user.is_staff


def test_an_admin_cannot_create_a_superuser(admin_member_client):
    admin_member_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "sneaky",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
            "is_superuser": "on",
            "is_staff": "on",
        },
    )
    assert not User.objects.filter(username="sneaky", is_superuser=True).exists()
    assert not User.objects.filter(username="sneaky", is_staff=True).exists()


def test_an_admin_resets_a_password_and_deactivates_a_user(admin_member_client, agent_user):
    password_url = reverse("admin:auth_user_password_change", args=[agent_user.pk])
    response = admin_member_client.post(
        password_url, {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"}
    )
    assert response.status_code == 302
    response = admin_member_client.post(
        change_url(agent_user), form_data(admin_member_client, change_url(agent_user), is_active="")
    )
    assert response.status_code == 302
    agent_user.refresh_from_db()
    assert agent_user.check_password("a-new-long-passphrase-42")
    assert not agent_user.is_active


def test_an_admin_moves_a_user_between_roles(admin_member_client, agent_user):
    admins = Group.objects.get(name="Admin")
    response = admin_member_client.post(
        change_url(agent_user), form_data(admin_member_client, change_url(agent_user), groups=[str(admins.pk)])
    )
    assert response.status_code == 302
    agent_user.refresh_from_db()
    assert [group.name for group in agent_user.groups.all()] == ["Admin"]
    assert agent_user.is_staff  # follows the Admin role


def test_changing_a_role_keeps_groups_a_superuser_gave_outside_the_roles(admin_member_client, agent_user):
    auditors = Group.objects.create(name="Auditors")
    agent_user.groups.add(auditors)
    manager = Group.objects.get(name="Manager")
    url = change_url(agent_user)
    response = admin_member_client.post(url, form_data(admin_member_client, url, groups=[str(manager.pk)]))
    assert response.status_code == 302
    assert {group.name for group in agent_user.groups.all()} == {"Manager", "Auditors"}


def test_a_superuser_keeps_full_control(admin_client, agent_user):
    response = admin_client.get(change_url(agent_user))
    assert {"is_superuser", "user_permissions", "groups"} <= input_names(response)
    auditors = Group.objects.create(name="Auditors")
    url = change_url(agent_user)
    response = admin_client.post(url, form_data(admin_client, url, is_superuser="on", groups=[str(auditors.pk)]))
    assert response.status_code == 302
    agent_user.refresh_from_db()
    assert agent_user.is_superuser
    assert [group.name for group in agent_user.groups.all()] == ["Auditors"]
