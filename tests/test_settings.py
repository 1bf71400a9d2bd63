"""Production configuration, checked in fresh processes with a production environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Qp2LmN9vRt4sWz8yBc1dFg6hJk3nMq5rTu0wXa2zCe4gIl7oKs9vYb1hDf3jHm",
    "ALLOWED_HOSTS": "feedback.example.com",
    "LEADCONDUIT_FEEDBACK_URL": "https://app.leadconduit.com/feedback",
    "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
}


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if key not in PRODUCTION_ENV}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=base | PRODUCTION_ENV | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deploy_check_without_warnings():
    result = run_django("from django.core.management import call_command; call_command('check', deploy=True)")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_leadconduit_url():
    result = run_django("pass", LEADCONDUIT_FEEDBACK_URL="")
    assert result.returncode != 0
    assert "LEADCONDUIT_FEEDBACK_URL must be set" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = run_django("pass", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_sandbox_is_not_routed_in_production():
    result = run_django(
        "from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox/feedback')\nexcept Resolver404:\n    print('not routed')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "not routed"


def test_the_sandbox_cannot_be_turned_on_in_production():
    result = run_django("from django.conf import settings; print(settings.SANDBOX_ENABLED)", LEADCONDUIT_SANDBOX="true")
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LEADCONDUIT_REQUEST_FORMAT", "yaml", "LEADCONDUIT_REQUEST_FORMAT must be one of json, xml, form"),
        ("LEADCONDUIT_RESPONSE_FORMAT", "form", "LEADCONDUIT_RESPONSE_FORMAT must be one of json, xml"),
        ("LEADCONDUIT_TIMEOUT", "soon", "LEADCONDUIT_TIMEOUT must be a number"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(name, value, message):
    result = run_django("pass", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "change-me-to-50-or-more-random-characters-0123456789abcdefghij",  # .env.example's placeholder
        "short-but-random-Q7x9",
        "a" * 60,  # long enough, but too few distinct characters for the deploy check
    ],
)
def test_production_refuses_a_placeholder_or_weak_secret_key(key):
    result = run_django("pass", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "at least 50 characters" in result.stderr


def test_health_is_exempt_from_the_https_redirect_so_a_plain_http_check_works():
    result = run_django(
        "from django.test import Client\n"
        "r = Client().get('/health/', HTTP_HOST='feedback.example.com')\n"
        "s = Client().get('/accounts/login/', HTTP_HOST='feedback.example.com')\n"
        "print(r.status_code, s.status_code)",
        DATABASE_URL="sqlite:///:memory:",
    )
    assert result.returncode == 0, result.stderr
    health, login = result.stdout.split()
    assert health != "301"
    assert login == "301"


@pytest.mark.parametrize(
    "url",
    [
        "app.leadconduit.com/feedback",  # no scheme
        "ftp://app.leadconduit.com/feedback",
        "https:///feedback",  # no host
        "https://app.leadconduit.com:99999/feedback",
        "https://API:secret@app.leadconduit.com/feedback",  # the key belongs in LEADCONDUIT_API_KEY
        "https://app.leadconduit.com/feed back",
    ],
)
def test_production_refuses_to_start_with_a_malformed_leadconduit_url(url):
    result = run_django("pass", LEADCONDUIT_FEEDBACK_URL=url)
    assert result.returncode != 0
    assert "LEADCONDUIT_FEEDBACK_URL must be an http:// or https:// URL with a host" in result.stderr


def test_production_refuses_plain_http_to_leadconduit():
    result = run_django("pass", LEADCONDUIT_FEEDBACK_URL="http://app.leadconduit.com/feedback")
    assert result.returncode != 0
    assert "LEADCONDUIT_FEEDBACK_URL must be an https:// URL" in result.stderr


def test_production_takes_plain_http_to_leadconduit_when_explicitly_allowed():
    result = run_django(
        "from django.conf import settings; print(settings.LEADCONDUIT_FEEDBACK_URL)",
        LEADCONDUIT_FEEDBACK_URL="http://127.0.0.1:8443/feedback",
        LEADCONDUIT_ALLOW_HTTP="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8443/feedback"


def test_development_takes_plain_http_to_leadconduit_but_not_a_malformed_url():
    development = {"DEBUG": "true", "SECRET_KEY": ""}
    plain = run_django(
        "from django.conf import settings; print(settings.LEADCONDUIT_FEEDBACK_URL)",
        LEADCONDUIT_FEEDBACK_URL="http://127.0.0.1:9000/feedback",
        **development,
    )
    assert plain.stdout.strip() == "http://127.0.0.1:9000/feedback", plain.stderr
    malformed = run_django("pass", LEADCONDUIT_FEEDBACK_URL="127.0.0.1:9000/feedback", **development)
    assert malformed.returncode != 0
    assert "LEADCONDUIT_FEEDBACK_URL must be an http:// or https:// URL with a host" in malformed.stderr


def test_postgresql_connections_keep_their_settings_beside_options_given_in_the_database_url():
    result = run_django(
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['options'])",
        DATABASE_URL="postgres://u@db.example.com/portal?options=-c%20statement_timeout%3D5000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-c", "work_mem=16MB", "-c", "jit=off", "-c", "statement_timeout=5000"]
