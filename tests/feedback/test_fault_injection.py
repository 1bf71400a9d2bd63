"""Fault injection: the whole delivery loop against a misbehaving LeadConduit, counting HTTP calls.

Each case runs the real worker until the feedback settles (scheduled retries are made due at once)
and asserts the final status and exactly how many calls reached the server. LeadConduit bills every
call it receives, so a call count above what the case allows is a double-billed return.
"""

import socket
import threading
import time

import pytest

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import make_due, reload

pytestmark = pytest.mark.django_db(transaction=True)
MAX_ATTEMPTS = 4


def settle(feedback: Feedback, run_worker) -> Feedback:
    for _ in range(MAX_ATTEMPTS * 3):
        run_worker()
        feedback = reload(feedback)
        if feedback.status != Status.RETRYING:
            return feedback
        make_due(feedback)
    raise AssertionError(f"feedback did not settle: {feedback.status}")


@pytest.fixture
def submitted(settings, lead_with_event, return_reason) -> Feedback:
    settings.LEADCONDUIT_MAX_ATTEMPTS = MAX_ATTEMPTS
    settings.LEADCONDUIT_TIMEOUT = 1.0
    return submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)


def sandbox_calls(feedback: Feedback) -> int:
    return SandboxCall.objects.filter(event_id=feedback.lead.event_id).count()


@pytest.mark.parametrize(
    ("fault", "query", "final", "calls"),
    [
        ("503", "", Status.FAILED, MAX_ATTEMPTS),  # "not now", every time: bounded retries
        ("flaky", "?fail=2&status=503", Status.ACCEPTED, 3),  # 503, 503, then accepted
        ("flaky", "?fail=1&status=429&retry_after=0", Status.ACCEPTED, 2),  # 429 honours Retry-After
        ("500", "", Status.UNCONFIRMED, 1),  # fate unknown: never resent
        ("flaky", "?fail=1&status=500", Status.UNCONFIRMED, 1),  # even though a resend would work
        ("garbage", "", Status.UNCONFIRMED, 1),
        ("slow", "?delay=2", Status.UNCONFIRMED, 1),  # read timeout: LeadConduit got it
        ("error", "", Status.ERROR, 1),  # LeadConduit's own outcome: error (answered, final)
        ("400", "", Status.ERROR, 1),  # refused as malformed: answered, final
    ],
)
def test_each_fault_ends_in_the_right_status_with_the_exact_number_of_calls(
    fault_url, submitted, run_worker, fault, query, final, calls
):
    fault_url(fault, query)
    feedback = settle(submitted, run_worker)
    assert feedback.status == final
    if fault == "slow":
        _wait_for_the_late_answer(feedback)
    assert sandbox_calls(feedback) == calls
    assert feedback.attempts.count() == calls


def test_refused_connections_are_retried_then_given_up_and_nothing_reached_leadconduit(
    closed_port_url, submitted, run_worker
):
    feedback = settle(submitted, run_worker)
    assert feedback.status == Status.FAILED
    assert feedback.attempts.count() == MAX_ATTEMPTS
    assert set(feedback.attempts.values_list("classification", flat=True)) == {"not_sent"}
    assert SandboxCall.objects.count() == 0


def test_a_connection_dropped_after_sending_is_unconfirmed_and_sent_once(settings, submitted, run_worker):
    received = []
    listener = socket.create_server(("127.0.0.1", 0))

    def drop_after_reading() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(65536))  # the whole small request; then hang up unanswered

    thread = threading.Thread(target=drop_after_reading, daemon=True)
    thread.start()
    settings.LEADCONDUIT_FEEDBACK_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/feedback"
    try:
        feedback = settle(submitted, run_worker)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert feedback.status == Status.UNCONFIRMED
    assert len(received) == 1
    assert b"POST /feedback?event_id=" in received[0]
    assert DeliveryAttempt.objects.get(feedback=feedback).classification == "unknown"


def test_an_operator_can_opt_in_to_resending_unknown_fates(settings, fault_url, submitted, run_worker):
    settings.LEADCONDUIT_RESEND_UNKNOWN = True
    fault_url("flaky", "?fail=1&status=500")
    feedback = settle(submitted, run_worker)
    assert feedback.status == Status.ACCEPTED
    assert sandbox_calls(feedback) == 2  # the 500 may have been recorded: the opt-in accepts that risk


def _wait_for_the_late_answer(feedback: Feedback) -> None:
    # The sandbox records a call when it answers, after the client has given up.
    deadline = time.monotonic() + 5
    while not sandbox_calls(feedback) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_under_the_opt_in_a_feedback_out_of_tries_after_an_unknown_fate_is_unconfirmed_not_failed(
    settings, fault_url, submitted, run_worker
):
    settings.LEADCONDUIT_RESEND_UNKNOWN = True
    fault_url("flaky", f"?fail={MAX_ATTEMPTS}&status=500")
    feedback = settle(submitted, run_worker)
    assert feedback.status == Status.UNCONFIRMED  # it may be in LeadConduit: a person decides
    assert sandbox_calls(feedback) == MAX_ATTEMPTS
