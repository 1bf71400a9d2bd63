"""The real worker process (manage.py run_worker) under SIGTERM and SIGKILL, against the sandbox."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.feedback.sweeper import sweep
from feedbackportal.health.models import WorkerHeartbeat
from feedbackportal.sandbox.models import SandboxCall

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(feedback_url: str, *extra: str) -> subprocess.Popen:
    env = os.environ | {
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "LEADCONDUIT_FEEDBACK_URL": feedback_url,
        "LEADCONDUIT_TIMEOUT": "10",
        "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.1", "--sweep-every", "0.5", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def slow_sandbox(live_server, lead_with_event, return_reason):
    url = f"{live_server.url}/sandbox/fault/slow/feedback?delay=2"
    feedback = submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason)
    return url, feedback


def status_of(feedback: Feedback) -> str:
    return Feedback.objects.values_list("status", flat=True).get(pk=feedback.pk)


def test_sigterm_lets_the_call_in_flight_finish_then_the_worker_exits_cleanly(slow_sandbox):
    url, feedback = slow_sandbox
    worker = start_worker(url)
    try:
        wait_for(lambda: status_of(feedback) == Status.SENDING)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert status_of(feedback) == Status.ACCEPTED
    assert SandboxCall.objects.filter(event_id=feedback.lead.event_id).count() == 1
    assert WorkerHeartbeat.objects.get().stopped_at is not None


def test_a_worker_killed_mid_call_leaves_the_feedback_unconfirmed_and_never_resends_it(slow_sandbox, settings):
    url, feedback = slow_sandbox
    worker = start_worker(url)
    try:
        wait_for(lambda: status_of(feedback) == Status.SENDING)
        time.sleep(0.3)  # the request is on its way to the sandbox
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
    attempt = DeliveryAttempt.objects.get(feedback=feedback)
    assert attempt.finished_at is None
    wait_for(lambda: SandboxCall.objects.filter(event_id=feedback.lead.event_id).exists())

    # A new worker starts; once the claim is older than any call can take, its sweeper steps in.
    Feedback.objects.filter(pk=feedback.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    replacement = start_worker(url)
    try:
        wait_for(lambda: status_of(feedback) == Status.UNCONFIRMED)
        time.sleep(1.0)
    finally:
        replacement.send_signal(signal.SIGTERM)
        replacement.communicate(timeout=30)
    assert SandboxCall.objects.filter(event_id=feedback.lead.event_id).count() == 1
    attempt.refresh_from_db()
    assert attempt.classification == "unknown"
    assert attempt.finished_at is not None
    assert sweep().unconfirmed == 0  # nothing left to recover


def test_with_concurrency_several_deliveries_are_in_flight_at_once_and_none_is_sent_twice(
    live_server, make_lead, make_event, return_reason
):
    # One call at a time against a 200 ms LeadConduit drains 5 a second; the issue asks for 100.
    url = f"{live_server.url}/sandbox/fault/slow/feedback?delay=1"
    feedbacks = []
    for _ in range(4):
        event = make_event()
        lead = make_lead(event_id=event.event_id, first_name=event.first_name, last_name=event.last_name)
        feedbacks.append(submit_feedback(lead=lead, feedback_type="return", reason=return_reason))
    worker = start_worker(url, "--concurrency", "4")
    try:
        wait_for(lambda: all(status_of(feedback) == Status.ACCEPTED for feedback in feedbacks), timeout=30)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    attempts = list(DeliveryAttempt.objects.filter(feedback__in=feedbacks))
    assert len(attempts) == 4
    # Every call started before any had finished: four in flight at once.
    assert max(attempt.started_at for attempt in attempts) < min(attempt.finished_at for attempt in attempts)
    for feedback in feedbacks:
        assert SandboxCall.objects.filter(event_id=feedback.lead.event_id).count() == 1


# Ctrl-C, systemd (KillMode=control-group) and Heroku signal every process, and the parent passes
# its own signal on: each delivery process then gets two at once, which must not mean "hurry up".
@pytest.mark.parametrize("signalled", ["the worker", "every process"])
def test_with_processes_each_forked_process_delivers_and_sigterm_lets_every_call_finish(
    live_server, make_lead, make_event, return_reason, signalled
):
    url = f"{live_server.url}/sandbox/fault/slow/feedback?delay=1"
    feedbacks = []
    for _ in range(4):
        event = make_event()
        lead = make_lead(event_id=event.event_id, first_name=event.first_name, last_name=event.last_name)
        feedbacks.append(submit_feedback(lead=lead, feedback_type="return", reason=return_reason))
    worker = start_worker(url, "--processes", "2", "--concurrency", "2")
    try:
        # Four calls in flight at once: two processes of two threads each.
        wait_for(lambda: Feedback.objects.filter(pk__in=[f.pk for f in feedbacks], status=Status.SENDING).count() == 4)
        children = child_pids(worker.pid) if signalled == "every process" else []
        for pid in [worker.pid, *children]:
            os.kill(pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert "2 processes, 2 at a time each" in output
    for feedback in feedbacks:
        assert status_of(feedback) == Status.ACCEPTED
        assert SandboxCall.objects.filter(event_id=feedback.lead.event_id).count() == 1
    heartbeat = WorkerHeartbeat.objects.get()  # one worker as far as the health page is concerned
    assert heartbeat.stopped_at is not None
    assert heartbeat.pid == worker.pid


def test_a_killed_worker_takes_its_delivery_processes_with_it(live_server):
    worker = start_worker(f"{live_server.url}/sandbox/feedback", "--processes", "2")
    try:
        wait_for(lambda: len(child_pids(worker.pid)) == 2)
        children = child_pids(worker.pid)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() and not zombie(pid) for pid in children))
    finally:
        worker.kill()


def child_pids(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_a_delivery_thread_that_meets_a_database_error_starts_again():
    from django.db import OperationalError

    from feedbackportal.feedback.management.commands.run_worker import _loop

    class Flaky:
        worker_id = "flaky"
        running = True
        runs = 0

        def run(self) -> None:
            self.runs += 1
            if self.runs == 1:
                raise OperationalError("the server closed the connection unexpectedly")
            self.running = False  # as SIGTERM leaves it

    worker = Flaky()
    _loop(worker, pause=0)
    assert worker.runs == 2
