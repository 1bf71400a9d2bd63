"""Login throttling (django-axes): per username and per address, the admin's login included."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from bs4 import BeautifulSoup
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from feedbackportal.throttle import client_ip
from tests.helpers import logged_in, member
from tests.test_settings import run_django

LIMIT = 5  # LOGIN_FAILURE_LIMIT's default
ELSEWHERE = "203.0.113.9"


def log_in(client: Client, username: str, password: str, *, address: str = "127.0.0.1", url: str = ""):
    return client.post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(username: str, times: int, *, address: str = "127.0.0.1", url: str = "") -> None:
    client = Client()
    for _ in range(times):
        response = log_in(client, username, "wrong-password", address=address, url=url)
        assert not signed_in(client)
    assert response.status_code in (200, 429)


@pytest.fixture
def agent_user(db) -> User:
    return member("agent7", "Agent")


def test_after_the_limit_the_right_password_is_refused_with_a_clear_message(agent_user):
    fail("agent7", LIMIT)
    client = Client()
    response = log_in(client, "agent7", "pw")
    assert response.status_code == 429
    assert not signed_in(client)
    page = BeautifulSoup(response.content, "html.parser")
    assert page.select_one("header.topbar") is not None  # the portal's layout, not a bare text
    text = " ".join(page.select_one("main").get_text(" ").split())
    assert "Too many failed log-ins" in text
    assert "15 minutes" in text
    assert page.select_one(f"a[href='{reverse('login')}']") is not None


def test_the_failures_before_the_limit_do_not_lock(agent_user):
    fail("agent7", LIMIT - 1)
    client = Client()
    assert log_in(client, "agent7", "pw").status_code == 302
    assert signed_in(client)


def test_a_username_is_locked_whatever_address_the_failures_come_from(agent_user):
    for number in range(LIMIT):
        fail("agent7", 1, address=f"198.51.100.{number + 1}")
    client = Client()
    assert log_in(client, "agent7", "pw", address=ELSEWHERE).status_code == 429
    assert not signed_in(client)


def test_an_address_is_locked_whatever_usernames_it_tries(agent_user):
    for number in range(LIMIT):
        fail(f"guess{number}", 1)
    client = Client()
    assert log_in(client, "agent7", "pw").status_code == 429
    assert not signed_in(client)


def test_other_users_elsewhere_are_not_affected(agent_user):
    member("agent8", "Agent")
    fail("agent7", LIMIT)
    client = Client()
    assert log_in(client, "agent8", "pw", address=ELSEWHERE).status_code == 302
    assert signed_in(client)


def test_the_admin_login_is_throttled_too(db):
    member("boss", "Admin")
    fail("boss", LIMIT, url=reverse("admin:login"))
    client = Client()
    response = log_in(client, "boss", "pw", url=reverse("admin:login"))
    assert response.status_code == 429
    assert not signed_in(client)
    # ... and the lock holds on the portal's own login form as well.
    assert log_in(Client(), "boss", "pw").status_code == 429


def test_the_lock_ends_after_the_cool_off(agent_user):
    fail("agent7", LIMIT)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    client = Client()
    assert log_in(client, "agent7", "pw").status_code == 302
    assert signed_in(client)


def test_an_admin_sees_the_attempts_and_unlocks_by_deleting_them(agent_user):
    fail("agent7", LIMIT)
    admin = logged_in(member("boss", "Admin"))
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "agent7" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="agent7")
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    client = Client()
    assert log_in(client, "agent7", "pw").status_code == 302
    assert signed_in(client)


def test_admins_see_successful_logins_and_failures(agent_user):
    fail("agent7", 1)
    log_in(Client(), "agent7", "pw")
    admin = logged_in(member("boss", "Admin"))
    assert admin.get(reverse("admin:axes_accesslog_changelist")).status_code == 200
    assert admin.get(reverse("admin:axes_accessfailurelog_changelist")).status_code == 200


def test_agents_and_managers_cannot_see_or_clear_attempts(db):
    for role in ("Agent", "Manager"):
        client = logged_in(member(f"someone-{role}", role))
        response = client.get(reverse("admin:axes_accessattempt_changelist"))
        assert response.status_code == 302, role  # to the admin's login: not staff


def test_the_limit_and_cool_off_come_from_the_environment():
    result = run_django(
        "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)",
        LOGIN_FAILURE_LIMIT="3",
        LOGIN_COOLOFF_MINUTES="2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "0:02:00"]


def test_a_bad_limit_stops_start_up():
    result = run_django("pass", LOGIN_FAILURE_LIMIT="0")
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT" in result.stderr


def test_the_attempt_record_never_keeps_the_password(agent_user):
    fail("agent7", 2)
    attempt = AccessAttempt.objects.get(username="agent7")
    assert "wrong-password" not in attempt.post_data


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [
        (0, "198.51.100.7", "10.0.0.1"),  # no proxy: a client's X-Forwarded-For is not believed
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own entry is ignored
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (1, "", "10.0.0.1"),
    ],
)
def test_the_address_counted_is_the_one_the_nearest_trusted_proxy_saw(settings, rf, proxies, forwarded, address):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.post("/accounts/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == address


def test_behind_a_proxy_each_client_address_is_locked_on_its_own(settings, agent_user):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(LIMIT):
        Client().post(
            reverse("login"),
            {"username": "guess", "password": "x"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )
    client = Client()
    response = client.post(
        reverse("login"),
        {"username": "agent7", "password": "pw"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )
    assert response.status_code == 302  # the proxy's own address is not what gets locked


def test_the_test_clients_logins_keep_working(agent_user):
    # force_login never authenticates; login() must hand axes a request, as axes' docs say.
    forced = Client()
    forced.force_login(agent_user)
    assert signed_in(forced)
    client = Client()
    assert client.login(username="agent7", password="pw", request=HttpRequest())
    assert signed_in(client)
