from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from feedbackportal.health.models import last_worker_seen_at


def worker_banner(request: HttpRequest) -> dict:
    """Tell managers when no delivery worker has been seen recently (agents just see 'queued')."""
    if getattr(request, "htmx", False):
        return {}  # the banner belongs to full pages, not to every status poll
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("feedback.resolve_feedback"):
        return {}
    last_seen = last_worker_seen_at()
    if last_seen is not None and (timezone.now() - last_seen).total_seconds() <= settings.WORKER_STALE_SECONDS:
        return {}
    return {"worker_down_since": last_seen, "worker_down": True}
