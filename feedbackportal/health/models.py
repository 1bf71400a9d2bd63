from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def alive(self) -> "WorkerHeartbeatQuerySet":
        return self.filter(last_seen_at__gte=timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS))


class WorkerHeartbeat(models.Model):
    """Each delivery worker process says it is alive here every few seconds."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid} ({self.worker_id})"


def beat(*, worker_id: str, hostname: str = "", pid: int | None = None) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"last_seen_at": timezone.now(), "hostname": hostname, "pid": pid, "stopped_at": None},
    )


def last_worker_seen_at():
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True).values_list("last_seen_at", flat=True).first()
