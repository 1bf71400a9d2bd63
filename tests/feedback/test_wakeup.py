"""An idle delivery worker wakes for new work (LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite)
instead of napping a fixed interval, and wakes when work scheduled for later comes due."""

import signal
import threading
import time

import psycopg
import pytest
from django.db import connection, connections, transaction

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.feedback.wakeup import WAKE_CHANNEL, Doorbell, wait_for_work
from feedbackportal.health.models import WorkerHeartbeat
from tests.feedback.test_worker_process import database_url, start_worker, status_of, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
LONG = 30.0  # far longer than any wake-up below may take


def waiting_in_thread(longest: float = LONG) -> tuple[threading.Thread, list[float]]:
    """wait_for_work in a thread of its own (its own connection); the list gets how long it waited."""
    waited: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        try:
            wait_for_work(longest=longest, poll=0.02, queue_names=["default"], backend_name="default")
        finally:
            waited.append(time.monotonic() - started)
            connections.close_all()

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, waited


def test_a_new_task_wakes_an_idle_worker_long_before_its_longest_wait(make_lead, return_reason):
    thread, waited = waiting_in_thread()
    time.sleep(0.3)  # it is waiting now
    assert thread.is_alive()
    submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason, undo_seconds=0)
    thread.join(timeout=LONG)
    assert len(waited) == 1
    assert waited[0] < 5


def test_a_task_scheduled_for_later_wakes_it_when_it_comes_due(make_lead, return_reason):
    submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason, undo_seconds=1)
    thread, waited = waiting_in_thread()
    thread.join(timeout=LONG)
    assert len(waited) == 1
    assert 0.5 < waited[0] < 5


def test_with_nothing_to_do_it_waits_its_longest():
    thread, waited = waiting_in_thread(longest=0.3)
    thread.join(timeout=LONG)
    assert len(waited) == 1
    assert waited[0] >= 0.29


def test_of_a_processs_idle_threads_one_waits_on_the_database_and_wakes_as_many_as_there_is_work_for():
    doorbell = Doorbell(threads=5)
    work = threading.Event()  # set: two tasks became ready
    lock = threading.Lock()
    looking = {"now": 0, "most": 0}
    woken: list[bool] = []

    def look(seconds: float) -> int:
        with lock:
            looking["now"] += 1
            looking["most"] = max(looking["most"], looking["now"])
        try:
            if work.wait(timeout=seconds):
                work.clear()
                return 2
            return 0
        finally:
            with lock:
                looking["now"] -= 1

    threads = [threading.Thread(target=lambda: woken.append(doorbell.wait(longest=1.5, look=look))) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert woken == []
    work.set()
    time.sleep(0.3)
    assert woken == [True, True]  # the one that waited, and one it woke for the second task
    for thread in threads:
        thread.join(timeout=LONG)
    assert woken == [True, True, False, False, False]
    assert looking["most"] == 1  # never two threads waiting on the database at once


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
def test_the_notification_goes_out_when_the_task_commits_never_before(make_lead, return_reason):
    lead = make_lead()
    with psycopg.connect(database_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {WAKE_CHANNEL}")
        with transaction.atomic():
            submit_feedback(lead=lead, feedback_type="return", reason=return_reason, undo_seconds=0)
            assert list(listener.notifies(timeout=0.2)) == []
        assert [note.channel for note in listener.notifies(timeout=5, stop_after=1)] == [WAKE_CHANNEL]


@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_the_worker_process_sends_new_feedback_without_waiting_out_its_interval(
    sandbox_url, lead_with_event, return_reason, concurrency
):
    worker = start_worker(sandbox_url, "--interval", str(LONG), "--concurrency", concurrency)
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists())
        time.sleep(0.5)  # every thread is idle, waiting
        feedback: Feedback = submit_feedback(
            lead=lead_with_event, feedback_type="return", reason=return_reason, undo_seconds=0
        )
        started = time.monotonic()
        wait_for(lambda: status_of(feedback) == Status.ACCEPTED, timeout=LONG)
        assert time.monotonic() - started < 5
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=LONG)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
