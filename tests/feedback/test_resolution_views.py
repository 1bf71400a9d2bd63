"""The managers' pages: the "Needs attention" queue, one feedback's calls and actions, and the nav link."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import DeliveryAttempt, Feedback, FeedbackAction, Reason, Status
from feedbackportal.feedback.services import cancel_feedback, confirm_feedback_delivered, submit_feedback
from feedbackportal.leads.models import Lead
from tests.helpers import PERMISSION_QUERIES, make_feedback, reload

QUEUE_URL = reverse("feedback:queue")
ACTIONS = ["resend", "confirm", "cancel"]
HOSTILE = '<script>alert("pwned")</script>'


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def errors(page: BeautifulSoup) -> str:
    return " ".join(alert.get_text(" ", strip=True) for alert in page.select("[role=alert]"))


def detail_url(feedback: Feedback) -> str:
    return reverse("feedback:detail", kwargs={"pk": feedback.pk})


def action_url(action: str, feedback: Feedback) -> str:
    return reverse(f"feedback:{action}", kwargs={"pk": feedback.pk})


def post_action(client, action: str, feedback: Feedback, *, comment: str = "", seen: str | None = None):
    seen = seen if seen is not None else f"{feedback.status}/{feedback.attempt_count}"
    return client.post(action_url(action, feedback), {"comment": comment, "seen": seen})


def queue_rows(page: BeautifulSoup) -> list[str]:
    return [str(row["id"]) for row in page.select("table.queue tbody tr")]


# ---- Who may see and do what


def test_anonymous_users_are_sent_to_log_in(client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)

    for response in [
        client.get(QUEUE_URL),
        client.get(detail_url(feedback)),
        *(post_action(client, action, feedback, comment="x") for action in ACTIONS),
    ]:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert reload(feedback).status == Status.FAILED


def test_agents_are_forbidden_the_queue_the_detail_and_every_action(agent_client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    assert agent_client.get(QUEUE_URL).status_code == 403
    assert agent_client.get(detail_url(feedback)).status_code == 403
    for action in ACTIONS:
        assert post_action(agent_client, action, feedback, comment="I checked").status_code == 403
    assert reload(feedback).status == Status.UNCONFIRMED
    assert not FeedbackAction.objects.exists()


def test_managers_see_the_queue_and_the_detail(manager_client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)

    assert manager_client.get(QUEUE_URL).status_code == 200
    assert manager_client.get(detail_url(feedback)).status_code == 200


def test_admins_may_resolve_too(client, make_lead, return_reason):
    admin = User.objects.create_user("boss", password="pw")
    admin.groups.add(Group.objects.get(name="Admin"))
    client.force_login(admin)
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)

    assert client.get(QUEUE_URL).status_code == 200
    assert post_action(client, "resend", feedback).status_code == 302


def test_an_unknown_feedback_is_not_found(manager_client):
    missing = Feedback(pk=999999, status=Status.FAILED)
    assert manager_client.get(detail_url(missing)).status_code == 404
    assert post_action(manager_client, "cancel", missing, comment="x").status_code == 404


def test_the_action_urls_take_only_posts(manager_client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)
    for action in ACTIONS:
        assert manager_client.get(action_url(action, feedback)).status_code == 405


# ---- The queue


def test_the_queue_lists_unconfirmed_and_failed_feedback_oldest_first(manager_client, make_lead, return_reason, agent):
    now = timezone.now()
    newer = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1, agent=agent)
    older = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=3, created_at=now - timedelta(1))
    for status in (Status.QUEUED, Status.RETRYING, Status.ACCEPTED, Status.REJECTED, Status.CANCELLED):
        make_feedback(make_lead(), return_reason, status=status, attempts=1)

    page = html(manager_client.get(QUEUE_URL))

    assert queue_rows(page) == [f"feedback-{older.pk}", f"feedback-{newer.pk}"]
    cells = [cell.get_text(" ", strip=True) for cell in page.select(f"tr#feedback-{newer.pk} td")]
    lead = newer.lead
    assert cells[:8] == [
        lead.full_name,
        lead.event_id,
        "Return",
        "Wrong number",
        "Alex Agent",
        "Unconfirmed",
        "1",
        "failure 1",
    ]
    assert page.select_one(f"tr#feedback-{older.pk} td:nth-of-type(7)").get_text(strip=True) == "3"
    assert page.select_one(f"tr#feedback-{older.pk} td:nth-of-type(8)").get_text(strip=True) == "failure 3"
    assert page.select_one(f"tr#feedback-{older.pk} time").get_text(strip=True).startswith("1\xa0day")
    assert page.select_one(f"tr#feedback-{newer.pk} a")["href"] == detail_url(newer)


@pytest.mark.parametrize(
    ("status_filter", "expected"),
    [("unconfirmed", ["u"]), ("failed", ["f"]), ("error", ["e"]), ("all", ["u", "f", "e"])],
)
def test_the_queue_filters_by_status(manager_client, make_lead, return_reason, status_filter, expected):
    made = {
        "u": make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1),
        "f": make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1),
        "e": make_feedback(make_lead(), return_reason, status=Status.ERROR, attempts=1),
    }

    page = html(manager_client.get(QUEUE_URL, {"status": status_filter}))

    assert queue_rows(page) == [f"feedback-{made[key].pk}" for key in expected]
    current = page.select_one(".tabs a[aria-current=page]")
    assert current["data-status"] == status_filter
    counts = {tab["data-status"]: tab.select_one(".tab-count").get_text() for tab in page.select(".tabs a")}
    assert counts == {"unconfirmed": "1", "failed": "1", "error": "1", "all": "3"}


def test_error_feedback_waits_in_the_queue_with_leadconduits_detail(manager_client, make_lead, return_reason):
    detail = "LeadConduit refused the request: HTTP 400 Body is not parsable as application/json -- Unexpected token"
    error = make_feedback(make_lead(), return_reason, status=Status.ERROR, attempts=1, status_message=detail)
    DeliveryAttempt.objects.filter(feedback=error).update(error=detail)

    queue = html(manager_client.get(QUEUE_URL))
    page = html(manager_client.get(detail_url(error)))

    assert queue_rows(queue) == [f"feedback-{error.pk}"]
    assert "Body is not parsable" in queue.select_one(f"tr#feedback-{error.pk} .last-error").get_text()
    assert "Body is not parsable" in page.select_one("main").get_text()
    assert {form["action"] for form in page.select("main form[method=post]")} >= {
        action_url(action, error) for action in ACTIONS
    }


def test_an_unknown_filter_shows_everything(manager_client, make_lead, return_reason):
    make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)

    page = html(manager_client.get(QUEUE_URL, {"status": "accepted"}))

    assert len(queue_rows(page)) == 2
    assert page.select_one(".tabs a[aria-current=page]")["data-status"] == "all"


def test_an_empty_queue_says_so(manager_client):
    page = html(manager_client.get(QUEUE_URL))
    assert page.select_one("table.queue") is None
    assert "Nothing needs attention" in page.select_one("main").get_text()


def failed_in_bulk(lead: Lead, reason: Reason, count: int) -> list[Feedback]:
    # Failed feedback is not live, so one lead may hold any number of them.
    start = timezone.now() - timedelta(hours=1)
    return Feedback.objects.bulk_create(
        Feedback(
            lead=lead,
            feedback_type="return",
            reason=reason,
            reason_text=reason.text,
            status=Status.FAILED,
            created_at=start + timedelta(seconds=n),
        )
        for n in range(count)
    )


def test_the_queue_shows_fifty_a_page(manager_client, make_lead, return_reason):
    made = failed_in_bulk(make_lead(), return_reason, 53)

    first = html(manager_client.get(QUEUE_URL, {"status": "failed"}))
    second = html(manager_client.get(QUEUE_URL, {"status": "failed", "page": 2}))
    beyond = html(manager_client.get(QUEUE_URL, {"status": "failed", "page": 99}))

    assert queue_rows(first) == [f"feedback-{feedback.pk}" for feedback in made[:50]]
    assert queue_rows(second) == [f"feedback-{feedback.pk}" for feedback in made[50:]]
    assert queue_rows(beyond) == queue_rows(second)  # a page past the end shows the last one
    assert first.select_one(".pagination a[rel=next]")["href"] == "?status=failed&page=2"
    assert first.select_one(".pagination a[rel=prev]") is None
    assert second.select_one(".pagination a[rel=prev]")["href"] == "?status=failed&page=1"
    assert "Page 2 of 2" in second.select_one(".pagination").get_text()


@pytest.mark.parametrize("rows", [2, 40])
def test_the_queue_makes_a_fixed_number_of_queries(
    manager_client, make_lead, return_reason, agent, django_assert_num_queries, rows
):
    for _ in range(rows // 2):
        make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=2, agent=agent)
        make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=3)
    # session, user, the manager's permissions, the worker heartbeat for the banner,
    # the counts per status (reused by the nav link), the page's count, the page's rows
    with django_assert_num_queries(6 + PERMISSION_QUERIES):
        response = manager_client.get(QUEUE_URL)
    assert len(queue_rows(html(response))) == rows


# ---- One feedback: its calls, its history, the actions


def test_the_detail_shows_every_call_with_request_and_response(manager_client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, note="Caller was angry")
    DeliveryAttempt.objects.create(
        feedback=feedback,
        number=1,
        finished_at=timezone.now(),
        duration_ms=2003,
        request_method="POST",
        request_url=f"https://app.leadconduit.com/feedback?event_id={feedback.lead.event_id}",
        request_headers={"Content-Type": "application/json", "Accept": "application/json"},
        request_body='{"type": "return", "reason": "Wrong number"}',
        response_status=502,
        response_headers={"Content-Type": "text/plain", "items": "not a method"},
        response_body="Bad gateway",
        classification="unknown",
        error="LeadConduit answered HTTP 502; it may have been recorded.",
    )
    DeliveryAttempt.objects.create(feedback=feedback, number=2, classification="unknown", error="Worker stopped")
    Feedback.objects.filter(pk=feedback.pk).update(attempt_count=2)

    page = html(manager_client.get(detail_url(feedback)))

    assert page.select_one(".lead-link")["href"] == feedback.lead.get_absolute_url()
    assert "Caller was angry" in page.select_one(".resolution-summary").get_text()
    first, second = page.select("article.attempt")
    assert first.select_one(".request-line").get_text(strip=True) == (
        f"POST https://app.leadconduit.com/feedback?event_id={feedback.lead.event_id}"
    )
    assert first.select_one(".request-headers").get_text().splitlines() == [
        "Accept: application/json",
        "Content-Type: application/json",
    ]
    assert first.select_one(".request-body").get_text() == '{"type": "return", "reason": "Wrong number"}'
    assert first.select_one(".response-status").get_text(strip=True) == "HTTP 502"
    assert "items: not a method" in first.select_one(".response-headers").get_text()
    assert first.select_one(".response-body").get_text() == "Bad gateway"
    facts = first.select_one(".facts").get_text(" ", strip=True)
    assert "unknown" in facts
    assert "2003 ms" in facts
    assert "it may have been recorded" in facts
    assert "No response received" in second.get_text()
    assert "never: the call did not finish" in second.get_text()


def test_a_hostile_response_body_is_shown_escaped(manager_client, make_lead, return_reason):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED)
    DeliveryAttempt.objects.create(
        feedback=feedback,
        number=1,
        request_method="POST",
        request_url="https://app.leadconduit.com/feedback",
        response_status=200,
        response_headers={"X-Evil": HOSTILE},
        response_body=f"<html><body>{HOSTILE}<img src=x onerror=alert(1)></body></html>",
        error=HOSTILE,
    )

    response = manager_client.get(detail_url(feedback))

    page = html(response)
    assert all("pwned" not in (script.string or "") for script in page.select("script"))
    assert page.select("img[onerror]") == []
    body = page.select_one(".response-body")
    assert HOSTILE in body.get_text()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in response.content.decode()
    assert HOSTILE in page.select_one(".response-headers").get_text()
    assert HOSTILE in page.select_one(".attempt-error").get_text()


def test_the_detail_offers_the_actions_the_status_allows(manager_client, make_lead, return_reason):
    forms = {}
    for status in (Status.UNCONFIRMED, Status.FAILED, Status.QUEUED, Status.RETRYING, Status.ACCEPTED):
        feedback = make_feedback(make_lead(), return_reason, status=status, attempts=1)
        page = html(manager_client.get(detail_url(feedback)))
        forms[status] = [form["id"] for form in page.select("form.resolve-form")]
        for form in page.select("form.resolve-form"):
            assert form.select_one("input[name=seen]")["value"] == f"{status}/1"
            assert form.select_one("textarea[name=comment]") is not None
            assert form.select_one("input[name=csrfmiddlewaretoken]") is not None
    assert forms == {
        Status.UNCONFIRMED: ["resend-form", "confirm-form", "cancel-form"],
        Status.FAILED: ["resend-form", "confirm-form", "cancel-form"],
        Status.QUEUED: ["cancel-form"],
        Status.RETRYING: ["cancel-form"],
        Status.ACCEPTED: [],
    }


def test_the_resend_comment_is_required_only_for_unconfirmed_feedback(manager_client, make_lead, return_reason):
    unconfirmed = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    failed = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)

    for feedback, required in ((unconfirmed, True), (failed, False)):
        page = html(manager_client.get(detail_url(feedback)))
        assert page.select_one("#resend-form textarea").has_attr("required") is required


def test_resending_redirects_back_with_a_message_and_the_history_shows_it(
    manager_client, make_lead, return_reason, manager
):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    response = post_action(manager_client, "resend", feedback, comment="Not in LeadConduit <checked 14:05>")

    assert response.status_code == 302
    assert response["Location"] == detail_url(feedback)
    assert reload(feedback).status == Status.QUEUED
    page = html(manager_client.get(response["Location"]))
    assert "Resent" in page.select_one(".messages").get_text()
    row = page.select_one("table.actions tbody tr")
    cells = [cell.get_text(" ", strip=True) for cell in row.select("td")]
    assert cells[1:] == ["Maria Manager", "Resent", "Unconfirmed → Queued", "Not in LeadConduit <checked 14:05>"]
    assert [form["id"] for form in page.select("form.resolve-form")] == ["cancel-form"]


@pytest.mark.parametrize(
    ("action", "status"), [("resend", Status.QUEUED), ("confirm", Status.ACCEPTED), ("cancel", Status.CANCELLED)]
)
def test_each_action_changes_the_status_and_records_who(
    manager_client, make_lead, return_reason, manager, action, status
):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=2)

    response = post_action(manager_client, action, feedback, comment="Checked in LeadConduit")

    assert response.status_code == 302
    assert reload(feedback).status == status
    recorded = FeedbackAction.objects.get()
    assert (recorded.actor, recorded.from_status, recorded.to_status) == (manager, "failed", status)


@pytest.mark.parametrize("action", ["resend", "confirm", "cancel"])
def test_a_missing_comment_is_refused_with_a_clear_error(manager_client, make_lead, return_reason, action):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)

    response = post_action(manager_client, action, feedback, comment="   ")

    assert response.status_code == 422
    page = html(response)
    assert "comment" in errors(page)
    assert page.select_one(f"#{action}-form textarea")["aria-invalid"] == "true"
    assert reload(feedback).status == Status.UNCONFIRMED
    assert not FeedbackAction.objects.exists()


def test_a_refused_action_keeps_the_comment_typed(manager_client, make_lead, return_reason):
    lead = make_lead()
    failed = make_feedback(lead, return_reason, status=Status.FAILED, attempts=3)
    newer = submit_feedback(lead=lead, feedback_type="return", reason=return_reason)

    response = post_action(manager_client, "confirm", failed, comment="Found it <b>on page 2</b>")

    assert response.status_code == 422
    page = html(response)
    assert f"already has another return (#{newer.pk}, queued" in errors(page)
    assert page.select_one("#confirm-form textarea").get_text() == "Found it <b>on page 2</b>"
    assert reload(failed).status == Status.FAILED


def test_an_action_on_a_page_that_went_stale_is_refused(manager_client, make_lead, return_reason, manager):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    seen = f"{feedback.status}/{feedback.attempt_count}"
    confirm_feedback_delivered(feedback=feedback, actor=manager, comment="Found it")  # another manager, first

    response = post_action(manager_client, "resend", feedback, comment="Not there", seen=seen)

    assert response.status_code == 422
    page = html(response)
    assert "changed while you were looking at it (it is now accepted)" in errors(page)
    assert page.select("form.resolve-form") == []
    assert reload(feedback).status == Status.ACCEPTED
    assert FeedbackAction.objects.count() == 1


def test_an_action_tried_again_after_a_resend_that_came_back_unconfirmed_is_refused(
    manager_client, make_lead, return_reason
):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    DeliveryAttempt.objects.create(feedback=feedback, number=2)
    Feedback.objects.filter(pk=feedback.pk).update(attempt_count=2)

    response = post_action(manager_client, "resend", feedback, comment="Not there", seen="unconfirmed/1")

    assert response.status_code == 422
    assert "changed while you were looking" in errors(html(response))
    assert not FeedbackAction.objects.exists()


def test_the_detail_makes_a_fixed_number_of_queries(
    manager_client, make_lead, return_reason, manager, django_assert_num_queries
):
    feedback = make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=6)
    for comment in ("one", "two"):
        FeedbackAction.objects.create(
            feedback=feedback, actor=manager, action="resent", comment=comment, from_status="failed", to_status="queued"
        )
    # session, user, permissions, worker heartbeat, the feedback with lead, agent and reason,
    # its attempts, its actions with their actors, the nav link's count
    with django_assert_num_queries(7 + PERMISSION_QUERIES):
        response = manager_client.get(detail_url(feedback))
    page = html(response)
    assert len(page.select("article.attempt")) == 6
    assert len(page.select("table.actions tbody tr")) == 2


# ---- The nav link and the lead page


def test_managers_see_how_much_needs_attention_in_the_nav(manager_client, make_lead, return_reason):
    make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)
    make_feedback(make_lead(), return_reason, status=Status.FAILED, attempts=1)
    make_feedback(make_lead(), return_reason, status=Status.RETRYING, attempts=1)

    link = html(manager_client.get(reverse("leads:search"))).select_one("nav .attention-link")

    assert link["href"] == QUEUE_URL
    assert link.get_text(strip=True) == "Needs attention (3)"


def test_agents_get_no_attention_link_and_pay_no_query_for_it(
    agent_client, make_lead, return_reason, django_assert_num_queries
):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.UNCONFIRMED, attempts=1)
    make_feedback(lead, return_reason, status=Status.FAILED, attempts=1)
    # session, user, permissions (the managers' banner), lead, the agent's view of it,
    # duplicates, feedbacks, reasons
    with django_assert_num_queries(7 + PERMISSION_QUERIES):
        response = agent_client.get(lead.get_absolute_url())
    page = html(response)
    assert page.select_one(".attention-link") is None
    assert page.select(".resolve-link") == []
    assert "Needs attention" not in page.get_text()


def test_managers_get_a_resolve_link_on_unresolved_rows_of_the_lead_page(manager_client, make_lead, return_reason):
    lead = make_lead()
    unconfirmed = make_feedback(lead, return_reason, status=Status.UNCONFIRMED, attempts=1)
    failed = make_feedback(lead, return_reason, status=Status.FAILED, attempts=1)
    make_feedback(lead, Reason.objects.get(label="Sale closed"), status=Status.ACCEPTED, attempts=1)

    page = html(manager_client.get(lead.get_absolute_url()))

    links = {link.find_parent("tr")["id"]: link["href"] for link in page.select("table.history .resolve-link")}
    assert links == {f"feedback-{unconfirmed.pk}": detail_url(unconfirmed), f"feedback-{failed.pk}": detail_url(failed)}


def test_agents_see_a_cancelled_feedback_plainly_on_the_lead_page(agent_client, make_lead, return_reason, manager):
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.QUEUED)
    cancel_feedback(feedback=feedback, actor=manager, comment="Wrong lead")

    row = html(agent_client.get(lead.get_absolute_url())).select_one(f"tr#feedback-{feedback.pk}")

    assert row.select_one(".badge").get_text(strip=True) == "Cancelled"
    assert row.select_one(".status-message").get_text(strip=True) == "Cancelled by a manager; not sent."


@pytest.mark.parametrize("seen", ["queued/²", "unconfirmed/-1", "nonsense", ""])
def test_a_garbled_page_version_is_no_crash(manager_client, make_lead, return_reason, seen):
    feedback = make_feedback(make_lead(), return_reason, status=Status.UNCONFIRMED, attempts=1)
    response = post_action(manager_client, "cancel", feedback, comment="checked", seen=seen)
    assert response.status_code in (302, 422)


def test_the_queue_counts_attempts_per_row_without_grouping_the_whole_queue():
    # Count("attempts") made PostgreSQL group every waiting feedback before cutting the page:
    # 1.9 s for 60,000 waiting. A correlated subquery counts the 50 rows shown.
    from feedbackportal.feedback.selectors import attention_queue, feedback_with_attempts

    assert attention_queue().query.group_by is None
    assert feedback_with_attempts().query.group_by is None
