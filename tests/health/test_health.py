from datetime import timedelta

from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.health.models import WorkerHeartbeat, beat

HEALTH_URL = reverse("health")


def test_health_needs_no_login_and_reports_a_live_worker(client, db):
    beat(worker_id="w1", hostname="host", pid=1)
    response = client.get(HEALTH_URL)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker": "ok",
        "worker_last_seen_seconds": 0,
        "oldest_queued_seconds": None,
    }
    assert "no-cache" in response["Cache-Control"]


def test_health_answers_a_head_check_with_the_same_status_and_no_body(client, db):
    beat(worker_id="w1", hostname="host", pid=1)
    response = client.head(HEALTH_URL)
    assert response.status_code == 200
    assert response.content == b""


def test_health_is_503_when_no_worker_was_ever_seen(client, db):
    response = client.get(HEALTH_URL)
    assert response.status_code == 503
    assert response.json()["worker"] == "none"


def test_health_is_503_when_the_worker_went_quiet(client, db, settings):
    beat(worker_id="w1")
    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS + 5))
    body = client.get(HEALTH_URL).json()
    assert body["worker"] == "stale"
    assert body["status"] == "degraded"


def test_a_worker_that_stopped_cleanly_does_not_count_as_alive(client, db):
    beat(worker_id="w1")
    WorkerHeartbeat.objects.update(stopped_at=timezone.now())
    assert client.get(HEALTH_URL).json()["worker"] == "none"


def test_health_reports_the_age_of_the_oldest_queued_feedback_and_nothing_about_leads(client, make_lead, return_reason):
    beat(worker_id="w1")
    lead = make_lead(first_name="Secretive")
    Feedback.objects.create(
        lead=lead, feedback_type="return", reason=return_reason, created_at=timezone.now() - timedelta(seconds=90)
    )
    response = client.get(HEALTH_URL)
    assert 89 <= response.json()["oldest_queued_seconds"] <= 95
    assert b"Secretive" not in response.content
    assert lead.event_id.encode() not in response.content


def banner(response) -> str:
    node = BeautifulSoup(response.content, "html.parser").select_one(".worker-banner")
    return node.get_text(" ", strip=True) if node else ""


def test_managers_see_a_banner_when_no_worker_is_alive(manager_client):
    assert "No delivery worker" in banner(manager_client.get(reverse("leads:search")))
    beat(worker_id="w1")
    assert banner(manager_client.get(reverse("leads:search"))) == ""


def test_agents_never_see_the_worker_banner(agent_client):
    assert banner(agent_client.get(reverse("leads:search"))) == ""
