"""Issue 9's probe, replayed: a hostile LeadConduit, a bad LeadConduit URL, a login loop, lead data in caches, HEAD.

Each test does what the probe did against the running portal and checks what holds now.
"""

import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from feedbackportal.feedback.models import DeliveryAttempt, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.leadconduit import Classification, LeadConduitError, send_feedback
from tests.helpers import logged_in, make_feedback, member, reload
from tests.leadconduit.raw_http import hold_open, one_byte_at_a_time, trickle

SOME_EVENT_ID = "5af4b98aa8065fa3a79bf4b3"
SLACK = 0.5  # seconds past the deadline a call may take to wind down


# Item 5: a LeadConduit that trickles its status line and headers


HEAD_201 = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
# What the probe's server did: the reply one byte a time, each well inside the read timeout.
trickle_status_line_and_headers = trickle(
    one_byte_at_a_time(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" + b"X-Stall: 1\r\n" * 200)
)
trickle_body = trickle([b" "] * 200, first=HEAD_201)


@pytest.mark.parametrize("respond", [trickle_status_line_and_headers, hold_open, trickle_body])
def test_a_stalling_leadconduit_never_holds_a_call_past_its_deadline(raw_server, settings, respond):
    settings.LEADCONDUIT_TIMEOUT = 0.5
    server = raw_server(respond)
    started = time.monotonic()
    with pytest.raises(LeadConduitError) as caught:
        send_feedback(SOME_EVENT_ID, "return", "Wrong number")
    assert time.monotonic() - started < settings.LEADCONDUIT_TIMEOUT + SLACK
    # The request went out before the stall: LeadConduit may have recorded it, so it is never resent.
    assert caught.value.classification is Classification.UNKNOWN
    assert len(server.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_feedback_stalled_by_trickled_headers_waits_unconfirmed_and_frees_the_worker(
    raw_server, settings, make_lead, return_reason, run_worker
):
    settings.LEADCONDUIT_TIMEOUT = 0.5
    raw_server(trickle_status_line_and_headers)
    feedback = submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)
    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < settings.LEADCONDUIT_TIMEOUT + 2  # the worker's own work included
    feedback = reload(feedback)
    assert feedback.status == Status.UNCONFIRMED
    assert "did not answer in time" in feedback.status_message


# Item 6: a malformed LeadConduit URL at call time


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["app.leadconduit.com/feedback", "https://", "gopher://app.leadconduit.com/"])
def test_a_malformed_leadconduit_url_leaves_the_feedback_to_be_retried_never_unconfirmed(
    settings, make_lead, return_reason, run_worker, url
):
    settings.LEADCONDUIT_FEEDBACK_URL = url
    feedback = submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)
    run_worker()
    feedback = reload(feedback)
    assert feedback.status == Status.RETRYING
    (attempt,) = DeliveryAttempt.objects.filter(feedback=feedback)
    assert attempt.classification == Classification.NOT_SENT
    assert "LEADCONDUIT_FEEDBACK_URL" in attempt.error


# Item 8: the login page's redirect loop


def test_the_login_page_sending_a_signed_in_user_to_itself_goes_home(agent):
    client = Client(raise_request_exception=False)  # as in production: an exception is a 500
    client.force_login(agent)
    response = client.get("/accounts/login/?next=/accounts/login/")
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:search")


# Item 9: every URL, walked: no lead data in caches, and HEAD wherever GET works

NOT_IN_PRODUCTION = {"sandbox"}  # namespaces routed only in development


def walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in NOT_IN_PRODUCTION or entry.namespace == "admin":
                continue
            yield from walk(entry.url_patterns, f"{prefix}{entry.namespace}:" if entry.namespace else prefix)
        else:
            yield f"{prefix}{entry.name}", entry


@pytest.fixture
def every_url(make_lead, return_reason) -> dict[str, str]:
    """Each named portal URL with a real object behind it; a new URL with arguments needs a sample here."""
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.UNCONFIRMED, attempts=1)
    job = ImportJob.objects.create(kind=ImportKind.LEADS, status=ImportStatus.DONE, original_name="leads.csv")
    reconciliation = ImportJob.objects.create(
        kind=ImportKind.RECONCILIATION, status=ImportStatus.DONE, original_name="export.csv"
    )
    samples = {
        "leads:detail": {"pk": lead.pk},
        "leads:intake": {"slug": "no-such-source"},
        "feedback:create": {"lead_pk": lead.pk},
        **{
            f"feedback:{name}": {"pk": feedback.pk}
            for name in ("status", "detail", "resend", "confirm", "cancel", "undo")
        },
        **{f"imports:{name}": {"pk": job.pk} for name in ("detail", "mapping", "results", "confirm", "cancel")},
        **{
            f"reports:{name}": {"pk": reconciliation.pk}
            for name in ("reconciliation", "reconcile_mapping", "reconcile_confirm", "reconcile_rows_csv")
        },
        "reports:reconcile_group_csv": {"pk": reconciliation.pk, "group": "agree"},
    }
    urls = {}
    for name, pattern in walk(get_resolver().url_patterns):
        needs = set(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else set()
        assert needs <= set(samples.get(name, {})), f"give {name} a sample object in every_url"
        urls[name] = reverse(name, kwargs=samples.get(name))
    admin: dict[str, dict[str, int]] = {
        "admin:index": {},
        "admin:feedback_reason_changelist": {},
        "admin:feedback_reason_change": {"object_id": return_reason.pk},
        "admin:leads_lead_change": {"object_id": lead.pk},
    }
    urls |= {name: reverse(name, kwargs=kwargs) for name, kwargs in admin.items()}
    return urls


@pytest.fixture
def admin_user(db) -> User:
    return member("admin-walker", "Admin")


def test_every_page_a_signed_in_user_gets_is_kept_out_of_caches(every_url, manager, admin_user):
    clients = {"manager": logged_in(manager), "admin": logged_in(admin_user)}
    for name, url in every_url.items():
        response = clients["admin" if name.startswith("admin:") else "manager"].get(url)
        directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
        assert {"private", "no-store"} <= directives, (name, response.status_code, response.get("Cache-Control"))


def test_every_page_that_answers_get_answers_head_the_same(every_url, manager, admin_user):
    clients = {"manager": logged_in(manager), "admin": logged_in(admin_user)}
    answered = 0
    for name, url in every_url.items():
        client = clients["admin" if name.startswith("admin:") else "manager"]
        got = client.get(url)
        if got.status_code == 405:
            continue  # POST only
        answered += 1
        head = client.head(url)
        assert head.status_code == got.status_code, (name, got.status_code, head.status_code)
        assert (b"".join(head.streaming_content) if head.streaming else head.content) == b""
    assert answered >= 20


def test_health_answers_head_for_a_load_balancer(db):
    assert Client().head("/health/").status_code in (200, 503)
