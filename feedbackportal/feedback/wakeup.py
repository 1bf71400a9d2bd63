"""How an idle delivery worker learns there is work, without django-tasks-db's fixed nap between polls.

On PostgreSQL every task enqueued sends ``NOTIFY`` on WAKE_CHANNEL in the enqueuing transaction
(so it arrives when the task row is committed, never before), and idle workers ``LISTEN`` on it.
On SQLite, which has no notifications, an idle worker looks for ready work every few hundredths
of a second with a plain read (no write lock). Either way it also wakes when the next task
scheduled for later (an undo window's end, a retry's back-off) comes due, and at the latest after
``longest`` seconds. Of the idle threads of one worker process only one waits on the database
(Doorbell); it wakes as many of the others as there is work for.
"""

import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Min
from django.tasks import TaskResultStatus
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max

logger = logging.getLogger(__name__)

WAKE_CHANNEL = "feedbackportal_tasks"
STOP_CHECK_SECONDS = 1.0
# The raw PostgreSQL connections that LISTEN already (a new connection after a reconnect must LISTEN again).
_listening: "weakref.WeakSet[Any]" = weakref.WeakSet()


def notify_workers(sender: object, **kwargs: object) -> None:
    """``task_enqueued`` receiver: on PostgreSQL, wake idle workers when this transaction commits."""
    connection = connections[router.db_for_write(DBTaskResult)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {WAKE_CHANNEL}")


def connect() -> None:
    task_enqueued.connect(notify_workers, dispatch_uid="feedbackportal_notify_workers")


def wait_for_work(*, longest: float, poll: float, queue_names: list[str], backend_name: str) -> bool:
    """Return when a task may be ready to run (True): one was enqueued or came due; or after ``longest`` seconds.

    Returning early is harmless (the worker finds nothing and waits again); returning late only delays.
    """
    connection = connections[router.db_for_read(DBTaskResult)]
    tasks = _tasks(queue_names, backend_name)
    if connection.vendor == "postgresql":
        return _wait_for_notification(connection, tasks, longest)
    return _poll(tasks, longest, poll)


def ready_count(*, queue_names: list[str], backend_name: str, at_most: int) -> int:
    return _tasks(queue_names, backend_name).ready()[:at_most].count()


def _tasks(queue_names: list[str], backend_name: str) -> Any:
    tasks = DBTaskResult.objects.filter(backend_name=backend_name)
    if "*" not in queue_names:
        tasks = tasks.filter(queue_name__in=queue_names)
    return tasks


def _seconds_until_due(tasks: Any, longest: float) -> float:
    """0 when a task is ready now, else until the next scheduled one comes due (at most ``longest``)."""
    if tasks.ready().exists():
        return 0.0
    later = tasks.filter(status=TaskResultStatus.READY).exclude(run_after=get_date_max())
    next_due = later.aggregate(next_due=Min("run_after"))["next_due"]
    if next_due is None:
        return longest
    return min(longest, max(0.0, (next_due - timezone.now()).total_seconds()))


def _wait_for_notification(connection: BaseDatabaseWrapper, tasks: Any, longest: float) -> bool:
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _listening:
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {WAKE_CHANNEL}")
        _listening.add(raw)
    # Notifications that arrived while it was working belong to work it has done or will see below.
    for _ in raw.notifies(timeout=0):
        pass
    # Listening before looking: a task committed after this look notifies, one committed before is seen.
    started = time.monotonic()
    wait = _seconds_until_due(tasks, longest)
    if wait > 0:
        for _ in raw.notifies(timeout=wait, stop_after=1):
            return True
    return time.monotonic() - started < longest


def _poll(tasks: Any, longest: float, poll: float) -> bool:
    deadline = time.monotonic() + longest
    while (left := deadline - time.monotonic()) > 0:
        if tasks.ready().exists():
            return True
        time.sleep(min(poll, left))
    return False


class Doorbell:
    """One idle thread of a process waits for work on the database; its idle siblings wait for it to ring.

    Without it, every idle thread would wait on the database itself, and one new task would wake them
    all (with 24 threads, 24 rounds of queries for one task). The thread that waits, once woken, rings
    as many siblings as there are ready tasks besides the one it takes, and one more to wait in its place.
    """

    def __init__(self, threads: int) -> None:
        self._condition = threading.Condition()
        self._someone_waits = False
        self._rings = 0
        self.threads = max(1, threads)

    def wait(self, *, longest: float, look: Callable[[float], int]) -> bool:
        """Return True when there may be work for this thread, False after ``longest`` seconds without.

        ``look(seconds)`` waits on the database for at most that long and returns how many tasks are ready.
        """
        deadline = time.monotonic() + longest
        with self._condition:
            while True:
                if self._rings:
                    self._rings -= 1
                    return True
                if not self._someone_waits:
                    self._someone_waits = True
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._condition.wait(timeout=left)
        ready = 0
        try:
            ready = look(max(0.0, deadline - time.monotonic()))
        finally:
            with self._condition:
                self._someone_waits = False
                self._rings = min(self._rings + max(0, ready - 1), self.threads - 1)
                self._condition.notify(self._rings + 1)
        return ready > 0


class WakingWorker(Worker):
    """django-tasks-db's worker that, when idle, waits in wait_for_work instead of sleeping a fixed interval.

    Each round is django-tasks-db's own batch run (claim and run every ready task, then return), so
    claiming, running, signals and shutdown stay theirs; only the idle wait is ours.
    """

    def __init__(self, *, longest_wait: float, poll: float, doorbell: Doorbell | None = None, **kwargs: Any) -> None:
        super().__init__(interval=poll, batch=True, **kwargs)
        self.longest_wait = longest_wait
        self.poll = poll
        self.doorbell = doorbell or Doorbell(threads=1)

    def run(self) -> None:
        while self.running:
            super().run()
            self._idle()

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        # django-tasks-db's handler exits on the spot when no task runs, which here may be in the middle
        # of a database wait or query; stopping after it (within STOP_CHECK_SECONDS) leaves it whole.
        if not self.running:
            super().shutdown(signum, frame)  # a second signal: exit now
            return
        logger.warning("Received %s - stopping after the current task or wait.", signal.strsignal(signum))
        self.running = False

    def _idle(self) -> None:
        # In slices, so that a stop (``running`` cleared by another thread) is seen within a second.
        deadline = time.monotonic() + self.longest_wait
        while self.running and (left := deadline - time.monotonic()) > 0:
            if self.doorbell.wait(longest=min(left, STOP_CHECK_SECONDS), look=self._look):
                return

    def _look(self, seconds: float) -> int:
        queues, backend = self.queue_names, self.backend_name
        if not wait_for_work(longest=seconds, poll=self.poll, queue_names=queues, backend_name=backend):
            return 0
        return ready_count(queue_names=queues, backend_name=backend, at_most=self.doorbell.threads)
