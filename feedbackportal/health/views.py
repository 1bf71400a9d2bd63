from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.health.models import last_worker_seen_at


@login_not_required
@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and monitors: no login, no lead data, 503 when degraded."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        last_seen = last_worker_seen_at()
        oldest_queued = (
            Feedback.objects.filter(status=Status.QUEUED)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    now = timezone.now()
    worker_age = round((now - last_seen).total_seconds()) if last_seen else None
    worker = "none" if worker_age is None else ("ok" if worker_age <= settings.WORKER_STALE_SECONDS else "stale")
    body = {
        "status": "ok" if worker == "ok" else "degraded",
        "database": "ok",
        "worker": worker,
        "worker_last_seen_seconds": worker_age,
        "oldest_queued_seconds": round((now - oldest_queued).total_seconds()) if oldest_queued else None,
    }
    return JsonResponse(body, status=200 if worker == "ok" else 503)
