import logging
import os
import socket
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from feedbackportal.feedback.sweeper import sweep
from feedbackportal.health.models import WorkerHeartbeat, beat

logger = logging.getLogger("feedbackportal.worker")


class Command(BaseCommand):
    help = (
        "Run a delivery worker: django-tasks-db's worker plus a heartbeat and the sweeper that "
        "recovers feedback whose delivery was interrupted. SIGTERM lets the call in flight finish."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls when idle.")
        parser.add_argument("--sweep-every", type=float, default=10.0, help="Seconds between heartbeats/sweeps.")
        parser.add_argument("--worker-id", default="")

    def handle(self, *, interval: float, sweep_every: float, worker_id: str, **options) -> None:
        worker_id = worker_id or f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(6)}"
        logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(worker_id, sweep_every, stop), daemon=True)
        keeper.start()
        worker = Worker(
            queue_names=["default"],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id[:64],
            excluded_queue_names=[],
        )
        worker.configure_signals()
        self.stdout.write(f"Delivery worker {worker_id} started.")
        try:
            worker.run()
        finally:
            stop.set()
            keeper.join(timeout=5)
            WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())
            self.stdout.write(f"Delivery worker {worker_id} stopped.")

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
