"""feedbackportal/permissions.py: a user's permissions in one query, the same as Django's ModelBackend finds."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User

from feedbackportal.permissions import OneQueryPermissions

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no cached permissions


@pytest.fixture
def agent_with_extra() -> User:
    user = User.objects.create_user("pat", password="pw-for-tests-only")
    user.groups.add(Group.objects.get(name="Agent"))
    user.user_permissions.add(Permission.objects.get(codename="view_reports"))
    return user


def test_own_and_group_permissions_in_one_query(agent_with_extra, django_assert_num_queries):
    expected = ModelBackend().get_all_permissions(fresh(agent_with_extra))
    assert {"feedback.use_desk", "feedback.view_reports"} <= expected
    user = fresh(agent_with_extra)
    with django_assert_num_queries(1):
        assert OneQueryPermissions().get_all_permissions(user) == expected
        assert user.has_perm("feedback.use_desk")
        assert user.has_perm("feedback.view_reports")
        assert not user.has_perm("feedback.resolve_feedback")  # ModelBackend, asked next, reads the same cache


def test_superuser_has_all_and_inactive_or_anonymous_none(agent_with_extra):
    from django.contrib.auth.models import AnonymousUser

    boss = User.objects.create_superuser("boss", password="pw-for-tests-only")
    assert OneQueryPermissions().get_all_permissions(boss) == ModelBackend().get_all_permissions(fresh(boss))
    agent_with_extra.is_active = False
    assert OneQueryPermissions().get_all_permissions(agent_with_extra) == set()
    assert OneQueryPermissions().get_all_permissions(AnonymousUser()) == set()


def test_signing_in_is_still_model_backend_so_existing_sessions_stay_valid(agent_with_extra, client):
    assert OneQueryPermissions().authenticate(None, username="pat", password="pw-for-tests-only") is None
    client.post("/accounts/login/", {"username": "pat", "password": "pw-for-tests-only"})
    assert client.session[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
