import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from feedbackportal.feedback.sweeper import sweep
from feedbackportal.feedback.wakeup import Doorbell, WakingWorker
from feedbackportal.health.models import WorkerHeartbeat, beat

logger = logging.getLogger("feedbackportal.worker")


class Command(BaseCommand):
    help = (
        "Run a delivery worker: django-tasks-db's worker plus a heartbeat and the sweeper that "
        "recovers feedback whose delivery was interrupted. SIGTERM lets the calls in flight finish."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help=(
                "Longest idle wait, in seconds, before looking for work again. New work wakes it sooner: "
                "at once on PostgreSQL (LISTEN/NOTIFY), within --poll on SQLite."
            ),
        )
        parser.add_argument(
            "--poll", type=float, default=0.05, help="SQLite only: seconds between looks for ready work when idle."
        )
        parser.add_argument("--sweep-every", type=float, default=10.0, help="Seconds between heartbeats/sweeps.")
        parser.add_argument("--worker-id", default="")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help=(
                "Deliveries in flight at once, each in its own thread (default: WORKER_CONCURRENCY, else 1). "
                "LeadConduit answers in ~200 ms, so one at a time drains about 5 a second."
            ),
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help=(
                "Processes forked, each with --concurrency threads (default: WORKER_PROCESSES, else 1): "
                "processes x concurrency deliveries in flight, each holding a database connection."
            ),
        )

    def handle(
        self,
        *,
        interval: float,
        poll: float,
        sweep_every: float,
        worker_id: str,
        concurrency: int | None,
        processes: int | None,
        **options,
    ) -> None:
        worker_id = worker_id or f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(6)}"
        concurrency = max(1, concurrency if concurrency is not None else int(os.environ.get("WORKER_CONCURRENCY", "1")))
        processes = max(1, processes if processes is not None else int(os.environ.get("WORKER_PROCESSES", "1")))
        logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
        if processes > 1:
            self._run_processes(worker_id, interval, poll, sweep_every, processes, concurrency)
            return
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(worker_id, sweep_every, stop), daemon=True)
        keeper.start()
        self.stdout.write(f"Delivery worker {worker_id} started ({concurrency} at a time).")
        try:
            if concurrency == 1:
                worker = _worker(worker_id, interval, poll, Doorbell(threads=1))
                worker.configure_signals()
                worker.run()
            else:
                doorbell = Doorbell(threads=concurrency)  # one idle thread waits on the database for all
                _run_threads([_worker(f"{worker_id[:59]}-{n}", interval, poll, doorbell) for n in range(concurrency)])
        finally:
            stop.set()
            keeper.join(timeout=5)
            WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())
            self.stdout.write(f"Delivery worker {worker_id} stopped.")

    def _run_processes(
        self, worker_id: str, interval: float, poll: float, sweep_every: float, processes: int, concurrency: int
    ) -> None:
        """Fork `processes` children that deliver (each `concurrency` threads, so the GIL is never
        shared by more than one process's deliveries); this parent keeps the heartbeat and the sweeper.
        SIGTERM/SIGINT are passed on: every call in flight finishes. A child that dies unasked stops
        the others and the parent exits 1, for the process manager to start it all again."""
        connections.close_all()  # nothing open crosses a fork
        children = [_fork_deliverer(f"{worker_id[:54]}-p{n}", interval, poll, concurrency) for n in range(processes)]
        stopping = False

        def shutdown(signum: int, frame: object) -> None:
            # No lock in a signal handler (a threading.Event holds one): another signal can arrive
            # inside this one, and would wait for the lock forever.
            nonlocal stopping
            stopping = True
            for pid in children:
                _signal(pid, signum)

        for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), shutdown)
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(worker_id, sweep_every, stop), daemon=True)
        keeper.start()
        self.stdout.write(f"Delivery worker {worker_id} started ({processes} processes, {concurrency} at a time each).")
        failed = False
        try:
            remaining = set(children)
            while remaining:
                pid, status = os.waitpid(-1, 0)
                if pid not in remaining:
                    continue
                remaining.discard(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed = True
                if not stopping:
                    logger.error("Delivery process %s exited unasked; stopping the others", pid)
                    failed = True
                    stopping = True
                    for other in remaining:
                        _signal(other, signal.SIGTERM)
        finally:
            stop.set()
            keeper.join(timeout=5)
            WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())
            connections.close_all()
            self.stdout.write(f"Delivery worker {worker_id} stopped.")
        if failed:
            sys.exit(1)

    def _keep(self, worker_id: str, every: float, stop: threading.Event) -> None:
        hostname, pid = socket.gethostname(), os.getpid()
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    beat(worker_id=worker_id, hostname=hostname, pid=pid)
                    sweep()
                except Exception:  # the keeper must outlive a passing database error
                    logger.exception("Heartbeat/sweep failed; trying again in %s s", every)
                stop.wait(every)
        finally:
            connections.close_all()


def _fork_deliverer(worker_id: str, interval: float, poll: float, concurrency: int) -> int:
    """Fork a process that runs `concurrency` delivery threads until SIGTERM (or its parent dies)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _die_with_parent()
        doorbell = Doorbell(threads=concurrency)  # made in the child: nothing crosses the fork
        workers = [_worker(f"{worker_id}-{n}", interval, poll, doorbell) for n in range(concurrency)]
        _run_threads(workers, second_signal_exits=False)
        code = 0
    except BaseException:
        logger.exception("Delivery process %s failed", worker_id)
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the parent dies (even by SIGKILL), so no deliverer outlives
    the worker a process manager watches; the calls in flight still finish."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _worker(worker_id: str, interval: float, poll: float, doorbell: Doorbell) -> Worker:
    return WakingWorker(
        longest_wait=interval,
        poll=min(poll, interval),
        doorbell=doorbell,
        queue_names=["default"],
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id[:64],
        excluded_queue_names=[],
    )


def _run_threads(workers: list[Worker], *, second_signal_exits: bool = True) -> None:
    """Run each worker's loop in a thread; the first SIGTERM/SIGINT lets every call in flight finish,
    a second one exits at once (unless ``second_signal_exits`` is off: a forked delivery process gets
    its parent's signal and, from Ctrl-C or a process manager signalling the whole group, its own at
    the same moment; its hard stop is SIGKILL). Two threads never deliver one feedback: the task
    claim and the feedback claim are both conditional updates."""
    signals = 0

    def shutdown(signum: int, frame: object) -> None:
        # No lock in here (a threading.Event holds one): a second signal can arrive inside this
        # handler, and would wait forever for the lock the first one holds.
        nonlocal signals
        signals += 1
        for worker in workers:
            worker.running = False
        if signals > 1 and second_signal_exits:
            os._exit(1)

    for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), shutdown)
    threads = [threading.Thread(target=_loop, args=(worker,), name=worker.worker_id) for worker in workers]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.2)


def _loop(worker: Worker, *, pause: float = 2.0) -> None:
    """A delivery thread: a database error (a restart, a dropped connection) is logged and the
    thread starts again after a pause, so the worker never loses capacity silently."""
    while True:
        try:
            worker.run()
        except Exception:
            logger.exception("Delivery thread %s failed; starting again in %s s", worker.worker_id, pause)
        finally:
            connections.close_all()
        if not worker.running:
            return
        time.sleep(pause)
