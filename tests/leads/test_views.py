import json
import re
import uuid

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.leads.models import Lead, Source, SourceReasonWording
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import PERMISSION_QUERIES, make_feedback

HTMX = {"HTTP_HX_REQUEST": "true"}


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def reason_options(page: BeautifulSoup, feedback_type: str) -> list[tuple[str, str]]:
    """(digit hint, label) for each reason offered for one feedback type."""
    group = page.select_one(f"form.feedback-form fieldset.reasons[data-type={feedback_type}]")
    assert group is not None
    options = []
    for label in group.select("label"):
        kbd = label.find("kbd")
        name = label.select_one(".reason-label")
        assert name is not None
        options.append((kbd.get_text() if kbd else "", name.get_text(strip=True)))
    return options


# ---- The lead page


def test_the_lead_page_shows_the_lead(agent_client, make_lead):
    lead = make_lead(
        first_name="Marisol",
        last_name="Quintero",
        email="marisol@example.com",
        phone="(512) 555-1212",
        event_id="5af4b98a0c1d2e3f40516273",
        city="Austin",
        state="TX",
        source_name="Acme Leads",
    )
    response = agent_client.get(lead.get_absolute_url())
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("h1#lead-name").get_text(strip=True) == "Marisol Quintero"
    facts = {
        dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True)
        for dt in page.select("dl.facts dt")
    }
    assert facts["Phone"] == "(512) 555-1212"
    assert facts["Email"] == "marisol@example.com"
    assert facts["Event id"] == "5af4b98a0c1d2e3f40516273"
    assert facts["Source"] == "Acme Leads"
    assert "Austin" in facts["Address"]
    assert page.select_one("#history ~ p.empty") is not None


def test_an_unknown_lead_is_not_found(agent_client):
    assert agent_client.get(reverse("leads:detail", kwargs={"pk": 999999})).status_code == 404


def test_lead_data_on_the_lead_page_is_escaped(agent_client, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>", last_name="<b>Evil</b>", city="<i>x</i>")
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select("main script") == []
    assert page.select("main b, main i") == []
    assert page.select_one("h1#lead-name").get_text() == "<script>alert(1)</script> <b>Evil</b>"


def test_the_lead_page_shows_the_feedback_history_with_status(agent_client, make_lead, return_reason, agent):
    lead = make_lead()
    rejected = make_feedback(
        lead, return_reason, status=Status.REJECTED, attempts=1, outcome_reason="Event has expired", agent=agent
    )
    accepted = make_feedback(lead, return_reason, status=Status.ACCEPTED, attempts=3, agent=agent)
    page = html(agent_client.get(lead.get_absolute_url()))
    rows = page.select("table.history tbody tr")
    assert [row["id"] for row in rows] == [f"feedback-{accepted.pk}", f"feedback-{rejected.pk}"]
    accepted_row, rejected_row = rows
    assert accepted_row.select_one(".badge").get_text(strip=True) == "Accepted"
    assert accepted_row.select_one(".status-message").get_text(strip=True) == "Accepted by LeadConduit."
    assert "3 attempts" in accepted_row.get_text()
    assert "Alex Agent" in accepted_row.get_text()
    assert "Wrong number" in accepted_row.get_text()
    assert rejected_row.select_one(".badge").get_text(strip=True) == "Rejected by LeadConduit"
    assert "Event has expired" in rejected_row.select_one(".status-message").get_text()


def test_the_form_offers_active_reasons_grouped_by_type_with_digit_hints(agent_client, make_lead):
    lead = make_lead()
    page = html(agent_client.get(lead.get_absolute_url()))
    expected = {
        kind: [(str(n), reason.label) for n, reason in enumerate(Reason.objects.active().for_type(kind), start=1)]
        for kind in ("return", "conversion")
    }
    assert reason_options(page, "return") == expected["return"]
    assert reason_options(page, "conversion") == expected["conversion"]
    assert len(expected["return"]) == 9
    values = [radio["value"] for radio in page.select("fieldset.reasons[data-type=return] input[name=reason]")]
    assert values == [str(reason.pk) for reason in Reason.objects.active().for_type("return")]
    types = [radio["value"] for radio in page.select("form.feedback-form input[name=feedback_type]")]
    assert types == ["return", "conversion"]
    assert page.select_one("input[name=feedback_type][value=return]").has_attr("checked")


def test_inactive_reasons_are_not_offered_and_the_others_keep_their_digits(agent_client, make_lead):
    lead = make_lead()
    Reason.objects.filter(label="Language barrier").update(active=False)
    page = html(agent_client.get(lead.get_absolute_url()))
    labels = [label for _, label in reason_options(page, "return")]
    assert "Language barrier" not in labels
    assert len(labels) == 8
    assert [digit for digit, _ in reason_options(page, "return")] == ["1", "2", "3", "4", "5", "6", "7", "9"]
    assert reason_options(page, "return")[-1] == ("9", "Already a customer")


def test_the_form_says_so_when_a_type_has_no_active_reasons(agent_client, make_lead):
    lead = make_lead()
    Reason.objects.filter(feedback_type="conversion").update(active=False)
    page = html(agent_client.get(lead.get_absolute_url()))
    group = page.select_one("fieldset.reasons[data-type=conversion]")
    assert group.select("input") == []
    assert "No conversion reasons are active" in group.get_text()


def test_a_type_with_a_live_feedback_collapses_to_a_summary_and_the_other_stays_usable(
    agent_client, make_lead, return_reason
):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    page = html(agent_client.get(lead.get_absolute_url()))
    summary = page.select_one("#summary-return")
    assert summary.get_text(" ", strip=True) == "Returned · Accepted · Wrong number"
    assert page.select_one("#summary-conversion") is None
    form = page.select_one("form.feedback-form")
    assert [radio["value"] for radio in form.select("input[name=feedback_type]")] == ["conversion"]
    # Offered, not chosen: an agent whose fingers type a return's digit and Enter must not send a
    # conversion instead; C chooses it.
    assert not form.select_one("input[name=feedback_type][value=conversion]").has_attr("checked")
    assert form.select("fieldset.reasons[data-type=return]") == []
    assert form.select("fieldset.reasons[data-type=conversion] input[name=reason]")


def test_a_rejected_return_does_not_collapse_the_return_half(agent_client, make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.REJECTED, outcome_reason="Too late")
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select_one("#summary-return") is None
    assert page.select_one("form.feedback-form input[name=feedback_type][value=return]").has_attr("checked")


def test_with_a_live_return_and_conversion_no_form_is_offered(
    agent_client, make_lead, return_reason, conversion_reason
):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.QUEUED)
    make_feedback(lead, conversion_reason, status=Status.ACCEPTED)
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select_one("form.feedback-form") is None
    assert page.select_one("#summary-return").get_text(" ", strip=True) == "Returned · Queued · Wrong number"
    assert page.select_one("#summary-conversion").get_text(" ", strip=True) == "Converted · Accepted · Sale closed"


def test_pending_rows_poll_their_status_and_final_rows_do_not(
    agent_client, make_lead, return_reason, conversion_reason
):
    lead = make_lead()
    final = make_feedback(lead, return_reason, status=Status.FAILED, attempts=6)
    queued = make_feedback(lead, return_reason, status=Status.QUEUED)
    retrying = make_feedback(lead, conversion_reason, status=Status.RETRYING, attempts=1)
    page = html(agent_client.get(lead.get_absolute_url()))
    for feedback in (queued, retrying):
        row = page.select_one(f"tr#feedback-{feedback.pk}")
        assert row["hx-get"] == reverse("feedback:status", kwargs={"pk": feedback.pk}) + "?poll=1"
        assert row["hx-trigger"] == "load delay:100ms"  # polled fast at first, then backing off
        assert row["hx-swap"] == "outerHTML"
    row = page.select_one(f"tr#feedback-{final.pk}")
    assert not row.has_attr("hx-get")
    assert not row.has_attr("hx-trigger")


def test_the_lead_page_makes_a_fixed_number_of_queries(
    agent_client, make_lead, return_reason, conversion_reason, agent, django_assert_num_queries
):
    lead = make_lead()
    for _ in range(4):
        make_feedback(lead, return_reason, status=Status.REJECTED, attempts=3, agent=agent)
        make_feedback(lead, conversion_reason, status=Status.ERROR, attempts=2, agent=agent)
    make_feedback(lead, return_reason, status=Status.RETRYING, attempts=2, agent=agent)
    # session, user, lead, the agent's view of it (one upsert), duplicates, feedbacks with their attempt
    # counts and agents, reasons
    with django_assert_num_queries(7 + PERMISSION_QUERIES):
        response = agent_client.get(lead.get_absolute_url())
    page = html(response)
    assert len(page.select("table.history tbody tr")) == 9
    assert sum("3 attempts" in row.get_text() for row in page.select("table.history tbody tr")) == 4


# ---- Login required, everywhere but the login page and the sandbox


def portal_urls(lead: Lead, feedback: Feedback) -> list[str]:
    return [
        reverse("leads:search"),
        reverse("leads:search") + "?q=joe",
        lead.get_absolute_url(),
        reverse("feedback:status", kwargs={"pk": feedback.pk}),
        reverse("feedback:for_event"),
        reverse("feedback:for_event") + f"?event_id={lead.event_id}",
    ]


def test_every_portal_page_redirects_anonymous_users_to_log_in(client, make_lead, return_reason):
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.QUEUED)
    for url in portal_urls(lead, feedback):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_an_htmx_request_without_a_session_sends_the_whole_page_to_log_in(client, make_lead, return_reason):
    # Otherwise htmx would swap the login form into the fragment that asked (a status row).
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.QUEUED)
    for url in portal_urls(lead, feedback):
        response = client.get(url, **HTMX)
        assert response.status_code == 200, url
        assert response["HX-Redirect"].startswith(reverse("login") + "?next="), url
        assert response.content == b"", url


def test_the_admin_redirects_anonymous_users_to_log_in(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_anonymous_posts_are_redirected_and_store_nothing(client, make_lead, return_reason):
    lead = make_lead()
    data = {
        "feedback_type": "return",
        "reason": return_reason.pk,
        "idempotency_key": "6b1f5c4e-8a0c-4f7e-9a49-0c1e5f0b2d11",
    }
    for url, extra in (
        (reverse("feedback:create", kwargs={"lead_pk": lead.pk}), {}),
        (reverse("feedback:for_event"), {"event_id": "abcdef0123456789abcdef01"}),
    ):
        response = client.post(url, data | extra)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert not Feedback.objects.exists()
    assert not Lead.objects.filter(event_id="abcdef0123456789abcdef01").exists()


def test_the_sandbox_does_not_require_a_login(client, make_event):
    event = make_event()
    response = client.post(
        f"/sandbox/feedback?event_id={event.event_id}",
        data=json.dumps({"type": "return", "reason": "Wrong number"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert SandboxCall.objects.get().event_id == event.event_id


def test_the_login_page_logs_an_agent_in_and_opens_search(client, agent):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    form = html(page).select_one("main form")
    assert {field["name"] for field in form.select("input")} >= {"username", "password", "csrfmiddlewaretoken"}
    response = client.post(reverse("login"), {"username": "agent1", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:search")
    assert client.get(reverse("leads:search")).status_code == 200


def test_the_login_page_returns_to_the_page_asked_for(client, agent, make_lead):
    lead = make_lead()
    login_url = client.get(lead.get_absolute_url())["Location"]
    page = html(client.get(login_url))
    assert page.select_one("input[name=next]")["value"] == lead.get_absolute_url()
    response = client.post(reverse("login"), {"username": "agent1", "password": "pw", "next": lead.get_absolute_url()})
    assert response["Location"] == lead.get_absolute_url()


def test_a_wrong_password_is_refused_with_a_message(client, agent):
    response = client.post(reverse("login"), {"username": "agent1", "password": "nope"})
    assert response.status_code == 200
    assert html(response).select_one("main [role=alert]") is not None
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(agent_client):
    assert agent_client.get(reverse("logout")).status_code == 405
    assert agent_client.get(reverse("leads:search")).status_code == 200
    response = agent_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert agent_client.get(reverse("leads:search")).status_code == 302


def test_every_page_offers_logout_as_a_form(agent_client, make_lead):
    page = html(agent_client.get(make_lead().get_absolute_url()))
    form = page.select_one(f"form[action='{reverse('logout')}']")
    assert form["method"] == "post"
    assert form.select_one("input[name=csrfmiddlewaretoken]") is not None


# ---- CSRF


@pytest.fixture
def csrf_client(agent) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


def test_a_post_without_the_csrf_token_is_refused(csrf_client, make_lead, return_reason):
    lead = make_lead()
    csrf_client.get(lead.get_absolute_url())  # sets the cookie; the token is still missing from the post
    response = csrf_client.post(
        reverse("feedback:create", kwargs={"lead_pk": lead.pk}),
        {
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": "6b1f5c4e-8a0c-4f7e-9a49-0c1e5f0b2d11",
        },
        **HTMX,
    )
    # Refused, and said so in place (tests/test_middleware.py): htmx swaps only a 2xx answer.
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#session-alert"
    assert "nothing was sent" in response.content.decode()
    assert not Feedback.objects.exists()


def test_an_htmx_post_with_the_token_header_is_accepted(csrf_client, make_lead, return_reason):
    lead = make_lead()
    page = html(csrf_client.get(lead.get_absolute_url()))
    token = json.loads(page.body["hx-headers"])["X-CSRFToken"]
    key = page.select_one("form.feedback-form input[name=idempotency_key]")["value"]
    response = csrf_client.post(
        reverse("feedback:create", kwargs={"lead_pk": lead.pk}),
        {"feedback_type": "return", "reason": return_reason.pk, "idempotency_key": key},
        HTTP_X_CSRFTOKEN=token,
        **HTMX,
    )
    assert response.status_code == 200
    assert Feedback.objects.get().lead == lead


def test_a_plain_post_with_the_token_field_is_accepted(csrf_client, make_lead, return_reason):
    lead = make_lead()
    form = html(csrf_client.get(lead.get_absolute_url())).select_one("form.feedback-form")
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    response = csrf_client.post(form["action"], data | {"feedback_type": "return", "reason": return_reason.pk})
    assert response.status_code == 302
    assert Feedback.objects.get().lead == lead


# ---- Security headers


def test_responses_carry_a_csp_with_a_script_nonce_that_the_htmx_script_carries(agent_client):
    response = agent_client.get(reverse("leads:search"))
    csp = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    nonces = [value for value in directives["script-src"] if value.startswith("'nonce-")]
    assert len(nonces) == 1
    nonce = re.fullmatch(r"'nonce-(.+)'", nonces[0]).group(1)
    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    htmx_tags = [tag for tag in html(response).find_all("script") if "htmx" in tag.get("src", "")]
    assert len(htmx_tags) == 1
    assert htmx_tags[0]["nonce"] == nonce


def test_the_nonce_changes_per_response(agent_client):
    first = agent_client.get(reverse("leads:search"))["Content-Security-Policy"]
    second = agent_client.get(reverse("leads:search"))["Content-Security-Policy"]
    assert first != second


def test_responses_forbid_framing_and_sniffing(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_a_feedback_without_an_agent_shows_a_dash_and_one_by_an_agent_without_a_name_shows_the_username(
    agent_client, make_lead, return_reason, conversion_reason, django_user_model
):
    lead = make_lead()
    nameless = django_user_model.objects.create_user("nameless", password="pw")
    by_nobody = make_feedback(lead, return_reason, status=Status.ACCEPTED)
    by_nameless = make_feedback(lead, conversion_reason, status=Status.ACCEPTED, agent=nameless)
    page = html(agent_client.get(lead.get_absolute_url()))
    by_cells = {row["id"]: row.select("td")[3].get_text(strip=True) for row in page.select("table.history tbody tr")}
    assert by_cells == {f"feedback-{by_nobody.pk}": "—", f"feedback-{by_nameless.pk}": "nameless"}


# ---- The reason picker: what is sent, and what is suggested


def reason_label(page, reason):
    return page.select_one(f"form.feedback-form input[name=reason][value='{reason.pk}']").find_parent("label")


def test_the_sellers_wording_is_shown_beside_the_agents_label(agent_client, make_lead, return_reason):
    source = Source.objects.create(name="SunPeak Solar", slug="sunpeak")
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    page = html(agent_client.get(make_lead(source=source).get_absolute_url()))

    label = reason_label(page, return_reason)
    assert label.select_one(".reason-label").get_text(strip=True) == "Wrong number"
    assert label.select_one(".sends").get_text(strip=True) == "sends: Invalid phone"
    plain = html(agent_client.get(make_lead().get_absolute_url()))
    assert reason_label(plain, return_reason).select_one(".sends") is None


def test_the_catalog_text_is_shown_when_it_differs_from_the_label(agent_client, make_lead):
    page = html(agent_client.get(make_lead().get_absolute_url()))
    under_18 = reason_label(page, Reason.objects.get(label="Under 18"))
    assert under_18.select_one(".sends").get_text(strip=True) == "sends: Consumer is under 18"


def test_with_duplicates_the_duplicate_reason_is_suggested_but_not_chosen(agent_client, make_lead):
    lead, twin = make_lead(phone="(512) 555-0199"), make_lead(phone="512.555.0199")
    alone_lead = make_lead(phone="(737) 555-0101")
    duplicate_reason = Reason.objects.get(is_duplicate_reason=True, feedback_type="return")

    with_twin = html(agent_client.get(lead.get_absolute_url()))
    alone = html(agent_client.get(alone_lead.get_absolute_url()))

    assert [a["href"] for a in with_twin.select(".duplicates a")] == [twin.get_absolute_url()]
    suggested = with_twin.select("form.feedback-form label.suggested")
    assert [label.select_one(".reason-label").get_text(strip=True) for label in suggested] == ["Duplicate lead"]
    assert "suggested" in suggested[0].select_one(".suggestion").get_text()
    assert with_twin.select("form.feedback-form input[name=reason]:checked") == []
    assert reason_label(with_twin, duplicate_reason).find("input")["data-hotkey"] == "3"
    assert alone.select("form.feedback-form label.suggested, .suggestion") == []


def test_a_refused_submit_keeps_the_duplicate_suggestion(agent_client, make_lead):
    lead, _twin = make_lead(phone="(512) 555-0199"), make_lead(phone="512.555.0199")
    url = reverse("feedback:create", kwargs={"lead_pk": lead.pk})
    page = html(agent_client.post(url, {"feedback_type": "return", "idempotency_key": str(uuid.uuid4())}))
    assert [label.select_one(".reason-label").get_text(strip=True) for label in page.select("label.suggested")] == [
        "Duplicate lead"
    ]


def test_an_error_row_tells_the_agent_in_plain_words_and_keeps_the_detail_for_managers(
    agent_client, manager_client, make_lead, return_reason
):
    detail = "LeadConduit refused the request: HTTP 400 Body is not parsable as application/json -- Unexpected token"
    lead = make_lead()
    feedback = make_feedback(lead, return_reason, status=Status.ERROR, attempts=1, status_message=detail)

    agent_row = html(agent_client.get(lead.get_absolute_url())).select_one(f"tr#feedback-{feedback.pk}")
    manager_row = html(manager_client.get(lead.get_absolute_url())).select_one(f"tr#feedback-{feedback.pk}")

    assert agent_row.select_one(".status-message").get_text(strip=True).startswith("LeadConduit could not record this")
    assert "parsable" not in agent_row.get_text()
    assert agent_row.select_one(".resolve-link") is None
    assert manager_row.select_one(".resolve-link")["href"] == reverse("feedback:detail", kwargs={"pk": feedback.pk})
