"""The undo window: an agent's feedback waits FEEDBACK_UNDO_SECONDS before the worker may send it,
and Undo takes it back before any byte goes out (a conditional update against the worker's claim)."""

import uuid
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackAction, Status
from feedbackportal.feedback.polling import POLL_BACKOFF_MS, WINDOW_END_SLACK_MS
from feedbackportal.feedback.services import ALREADY_SENT, FeedbackRefused, submit_feedback, undo_feedback
from feedbackportal.feedback.tasks import deliver_now
from feedbackportal.imports import runner
from feedbackportal.imports.models import ImportKind
from feedbackportal.imports.services import import_job_confirm, import_job_create
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import at_once, make_due, reload
from tests.test_settings import run_django

HTMX = {"HTTP_HX_REQUEST": "true"}
RACES = 30


@pytest.fixture(autouse=True)
def _five_second_window(settings):
    settings.FEEDBACK_UNDO_SECONDS = 5


@pytest.fixture
def returned(lead_with_event, return_reason, agent) -> Feedback:
    return submit_feedback(lead=lead_with_event, feedback_type="return", reason=return_reason, agent=agent)


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def undo_url(feedback: Feedback) -> str:
    return reverse("feedback:undo", kwargs={"pk": feedback.pk})


def calls_for(feedback: Feedback) -> int:
    return SandboxCall.objects.filter(event_id=feedback.lead.event_id).count()


# ---- The setting


def test_the_window_defaults_to_five_seconds_and_refuses_a_negative_one():
    shown = run_django(
        "from django.conf import settings; print(settings.FEEDBACK_UNDO_SECONDS)", FEEDBACK_UNDO_SECONDS=""
    )
    assert shown.stdout.strip() == "5", shown.stderr
    refused = run_django("pass", FEEDBACK_UNDO_SECONDS="-1")
    assert "FEEDBACK_UNDO_SECONDS must be at least 0" in refused.stderr


# ---- Submitting: the delivery waits for the window


@pytest.mark.django_db
def test_a_submitted_feedback_is_sent_only_after_the_window(returned):
    task = DBTaskResult.objects.get(pk=returned.task_id)
    assert returned.next_attempt_at is not None
    assert task.run_after == returned.next_attempt_at
    assert timedelta(seconds=4) < returned.next_attempt_at - timezone.now() <= timedelta(seconds=5)
    assert not DBTaskResult.objects.ready().exists()


@pytest.mark.django_db
def test_the_window_is_read_when_the_feedback_is_submitted(settings, make_lead, return_reason):
    settings.FEEDBACK_UNDO_SECONDS = 0
    feedback = submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason)
    assert feedback.next_attempt_at is None
    assert DBTaskResult.objects.ready().get().pk == uuid.UUID(feedback.task_id)


@pytest.mark.django_db(transaction=True)
def test_the_worker_leaves_a_feedback_alone_during_its_window_and_sends_it_after(sandbox_url, returned, run_worker):
    run_worker()
    assert reload(returned).status == Status.QUEUED
    assert calls_for(returned) == 0

    make_due(returned)
    run_worker()
    assert reload(returned).status == Status.ACCEPTED
    assert calls_for(returned) == 1


@pytest.mark.django_db
def test_a_bulk_import_does_not_wait_for_the_window(tmp_path, settings, make_lead, manager):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    lead = make_lead()
    path = tmp_path / "feedback.csv"
    path.write_text(f"Event ID,Reason\n{lead.event_id},Wrong number\n")
    job = import_job_create(
        kind=ImportKind.FEEDBACK, uploaded=None, name=path.name, feedback_type="return", user=manager
    )
    job = runner.run_import(job, lambda: path.open("rb"))  # the preview
    assert import_job_confirm(job=job, user=manager, run_in_worker=False)
    runner.run_import(job, lambda: path.open("rb"))
    feedback = Feedback.objects.get(lead=lead)
    assert feedback.next_attempt_at is None
    assert DBTaskResult.objects.ready().get().pk == uuid.UUID(feedback.task_id)


@pytest.mark.django_db(transaction=True)
def test_the_send_feedback_command_sends_at_once_whatever_the_window(sandbox_url, make_event, capsys):
    event = make_event()
    call_command("send_feedback", event.event_id, "--type", "return", "--reason", "Wrong number", "--wait", "0")
    assert "Status: Accepted" in capsys.readouterr().out
    assert SandboxCall.objects.filter(event_id=event.event_id).count() == 1


@pytest.mark.django_db
def test_a_feedback_just_out_of_a_long_window_is_not_said_to_wait_for_a_worker(returned):
    now = timezone.now()
    Feedback.objects.filter(pk=returned.pk).update(
        updated_at=now - timedelta(minutes=10), next_attempt_at=now - timedelta(seconds=5)
    )
    assert reload(returned).agent_message == "Queued. Sending to LeadConduit…"
    Feedback.objects.filter(pk=returned.pk).update(next_attempt_at=now - timedelta(minutes=1))
    assert reload(returned).agent_message.startswith("Saved; waiting for the delivery worker")


# ---- Undo


@pytest.mark.django_db(transaction=True)
def test_undo_cancels_it_records_who_and_nothing_is_ever_sent(sandbox_url, returned, agent, run_worker):
    undone = undo_feedback(feedback=returned, actor=agent)

    assert undone.status == Status.CANCELLED
    assert undone.agent_message == "Undone by Alex Agent before it was sent; nothing reached LeadConduit."
    action = FeedbackAction.objects.get(feedback=returned)
    assert (action.action, action.actor, action.from_status, action.to_status) == (
        ActionKind.UNDONE,
        agent,
        Status.QUEUED,
        Status.CANCELLED,
    )
    make_due(returned)
    run_worker()
    assert reload(returned).status == Status.CANCELLED
    assert calls_for(returned) == 0


@pytest.mark.django_db
def test_after_an_undo_the_lead_can_be_returned_again(returned, agent, return_reason):
    undo_feedback(feedback=returned, actor=agent)
    again = submit_feedback(lead=returned.lead, feedback_type="return", reason=return_reason, agent=agent)
    assert again.pk != returned.pk
    assert again.status == Status.QUEUED


@pytest.mark.django_db
def test_undoing_twice_answers_the_same_and_records_it_once(returned, agent):
    undo_feedback(feedback=returned, actor=agent)
    assert undo_feedback(feedback=returned, actor=agent).status == Status.CANCELLED
    assert FeedbackAction.objects.filter(feedback=returned).count() == 1


@pytest.mark.django_db
def test_another_agent_cannot_undo_it(returned):
    other = User.objects.create_user("agent2", password="pw")
    other.groups.add(Group.objects.get(name="Agent"))
    with pytest.raises(FeedbackRefused, match="Only the agent who sent it, or a manager"):
        undo_feedback(feedback=returned, actor=other)
    assert reload(returned).status == Status.QUEUED


@pytest.mark.django_db
def test_a_manager_can_undo_an_agents_feedback(returned, manager):
    assert undo_feedback(feedback=returned, actor=manager).status == Status.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_once_sent_undo_answers_already_sent(sandbox_url, returned, agent, run_worker):
    make_due(returned)
    run_worker()
    with pytest.raises(FeedbackRefused) as refused:
        undo_feedback(feedback=returned, actor=agent)
    assert refused.value.message == ALREADY_SENT
    assert reload(returned).status == Status.ACCEPTED
    assert not FeedbackAction.objects.exists()


@pytest.mark.django_db
def test_a_feedback_being_sent_cannot_be_undone(returned, agent):
    Feedback.objects.filter(pk=returned.pk).update(status=Status.SENDING, attempt_count=1)
    with pytest.raises(FeedbackRefused, match="Already sent"):
        undo_feedback(feedback=returned, actor=agent)


@pytest.mark.django_db(transaction=True)
def test_undo_at_the_last_moment_either_cancels_with_no_call_or_is_refused_because_sent(
    sandbox_url, make_event, make_lead, return_reason, agent
):
    outcomes = []
    for _ in range(RACES):
        event = make_event()
        feedback = submit_feedback(
            lead=make_lead(event_id=event.event_id), feedback_type="return", reason=return_reason, agent=agent
        )
        # The window ends now: the worker's claim and the agent's undo go for the same row at once.
        Feedback.objects.filter(pk=feedback.pk).update(next_attempt_at=timezone.now())
        undo, delivered = at_once(
            lambda feedback=feedback: undo_feedback(feedback=feedback, actor=agent),
            lambda feedback=feedback: deliver_now(feedback.pk),
        )
        calls = SandboxCall.objects.filter(event_id=event.event_id).count()
        status = reload(feedback).status
        if isinstance(undo, Feedback):
            assert (status, calls, delivered) == (Status.CANCELLED, 0, Status.CANCELLED), (undo, delivered)
            outcomes.append("undone")
        else:
            assert isinstance(undo, FeedbackRefused), undo
            assert undo.message == ALREADY_SENT
            assert (status, calls) == (Status.ACCEPTED, 1), (undo, delivered)
            outcomes.append("sent")
    assert len(outcomes) == RACES
    print(f"undo races: {outcomes.count('undone')} undone, {outcomes.count('sent')} sent")


# ---- The lead page: "Sending in 5 s — Undo (U)"


@pytest.mark.django_db
def test_the_row_counts_down_offers_undo_and_polls_when_the_window_ends(agent_client, returned):
    page = html(agent_client.get(returned.lead.get_absolute_url()))
    row = page.select_one(f"tr#feedback-{returned.pk}")
    assert row.select_one(".status-message").get_text(" ", strip=True) == "Sending in 5 s"
    form = row.select_one("form.undo-form")
    assert form["method"] == "post"
    assert form["action"] == undo_url(returned)
    assert form.select_one("input[name=csrfmiddlewaretoken]") is not None
    assert form.select_one("button").get_text(" ", strip=True) == "Undo U"
    delay = int(row["hx-trigger"].removeprefix("load delay:").removesuffix("ms"))
    assert 4000 + WINDOW_END_SLACK_MS < delay <= 5000 + WINDOW_END_SLACK_MS
    assert row["hx-get"].endswith("?poll=0")


@pytest.mark.django_db
def test_after_the_window_the_poll_starts_fast_and_backs_off(agent_client, returned):
    make_due(returned)
    status_url = reverse("feedback:status", kwargs={"pk": returned.pk})
    delays = []
    for polls in range(len(POLL_BACKOFF_MS) + 2):
        row = html(agent_client.get(f"{status_url}?poll={polls}", **HTMX)).select_one("tr")
        delays.append(int(row["hx-trigger"].removeprefix("load delay:").removesuffix("ms")))
        assert row["hx-get"] == f"{status_url}?poll={polls + 1}"
    assert delays == [*POLL_BACKOFF_MS, POLL_BACKOFF_MS[-1], POLL_BACKOFF_MS[-1]]
    assert delays[0] <= 250
    assert delays[-1] == 2000


@pytest.mark.django_db
def test_an_unreadable_poll_count_starts_over(agent_client, returned):
    make_due(returned)
    status_url = reverse("feedback:status", kwargs={"pk": returned.pk})
    row = html(agent_client.get(f"{status_url}?poll=-3x", **HTMX)).select_one("tr")
    assert row["hx-trigger"] == f"load delay:{POLL_BACKOFF_MS[0]}ms"


@pytest.mark.django_db
def test_a_plain_post_undoes_and_returns_to_the_lead_page(agent_client, returned):
    response = agent_client.post(undo_url(returned), follow=True)
    assert response.redirect_chain == [(returned.lead.get_absolute_url(), 302)]
    page = html(response)
    assert "Return undone: nothing was sent to LeadConduit." in page.select_one(".messages").get_text()
    row = page.select_one(f"tr#feedback-{returned.pk}")
    assert row.select_one(".badge").get_text(strip=True) == "Cancelled"
    assert row.select_one("form.undo-form") is None
    assert not row.has_attr("hx-get")


@pytest.mark.django_db
def test_an_htmx_undo_returns_the_panel_with_the_row_cancelled_and_the_return_free_again(agent_client, returned):
    page = html(agent_client.post(undo_url(returned), **HTMX))
    assert page.select_one("#feedback-panel") is not None
    row = page.select_one(f"tr#feedback-{returned.pk}")
    assert row.select_one(".badge").get_text(strip=True) == "Cancelled"
    return_choice = page.select_one("input[name=feedback_type][value=return]").find_parent("label")
    assert return_choice.select(".badge") == []


@pytest.mark.django_db
def test_an_undo_too_late_says_already_sent_in_the_row(agent_client, returned):
    Feedback.objects.filter(pk=returned.pk).update(status=Status.SENDING, attempt_count=1)
    page = html(agent_client.post(undo_url(returned), **HTMX))
    row = page.select_one(f"tr#feedback-{returned.pk}")
    assert row.select_one("[role=alert]").get_text(strip=True) == ALREADY_SENT

    response = agent_client.post(undo_url(returned), follow=True)
    assert ALREADY_SENT in html(response).select_one(".messages").get_text()


@pytest.mark.django_db
def test_the_undo_url_takes_only_posts(agent_client, returned):
    assert agent_client.get(undo_url(returned)).status_code == 405


@pytest.mark.django_db
def test_another_agent_posting_undo_changes_nothing(returned):
    other = User.objects.create_user("agent3", password="pw")
    other.groups.add(Group.objects.get(name="Agent"))
    client = Client()
    client.force_login(other)
    response = client.post(undo_url(returned), follow=True)
    assert "Only the agent who sent it" in html(response).select_one(".messages").get_text()
    assert reload(returned).status == Status.QUEUED


@pytest.mark.django_db
def test_the_audit_trail_lists_the_undo(manager_client, returned, agent):
    undo_feedback(feedback=returned, actor=agent)
    page = html(manager_client.get(reverse("reports:audit"), {"kind": "undone"}))
    rows = page.select("table.audit tbody tr")
    assert len(rows) == 1
    cells = [cell.get_text(" ", strip=True) for cell in rows[0].select("td")]
    assert cells[1:3] == ["Alex Agent", "Undone"]
    assert "Queued → Cancelled" in cells[4]
