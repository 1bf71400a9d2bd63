import uuid

import pytest
from bs4 import BeautifulSoup, Tag
from django.urls import reverse

from feedbackportal.feedback.models import Feedback, Reason, Status
from feedbackportal.leads.models import Lead
from feedbackportal.sandbox.models import SandboxCall
from tests.helpers import PERMISSION_QUERIES

HTMX = {"HTTP_HX_REQUEST": "true"}
FOR_EVENT_URL = reverse("feedback:for_event")


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def top_level(page: BeautifulSoup) -> list[tuple[str, str | None]]:
    return [(tag.name, tag.get("id")) for tag in page.contents if isinstance(tag, Tag)]  # type: ignore[misc]


def post_feedback(client, lead: Lead, *, htmx: bool = False, **fields):
    data = {"feedback_type": "return", "note": "", "idempotency_key": str(uuid.uuid4())} | fields
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(reverse("feedback:create", kwargs={"lead_pk": lead.pk}), data, **(HTMX if htmx else {}))


def errors(page: BeautifulSoup) -> str:
    return " ".join(alert.get_text(" ", strip=True) for alert in page.select("[role=alert]"))


def status_url(feedback: Feedback) -> str:
    return reverse("feedback:status", kwargs={"pk": feedback.pk})


# ---- The feedback form on the lead page


def test_an_htmx_post_returns_the_panel_with_the_queued_row_and_a_fresh_form(agent_client, make_lead, return_reason):
    lead = make_lead()
    key = str(uuid.uuid4())
    response = post_feedback(
        agent_client, lead, htmx=True, reason=return_reason.pk, note="Said wrong person", idempotency_key=key
    )
    assert response.status_code == 200
    page = html(response)
    assert page.find("html") is None
    assert top_level(page) == [("div", "feedback-panel")]
    feedback = Feedback.objects.get()
    assert (feedback.lead, feedback.feedback_type, feedback.reason_text) == (lead, "return", "Wrong number")
    assert str(feedback.idempotency_key) == key
    assert feedback.note == "Said wrong person"
    row = page.select_one(f"tr#feedback-{feedback.pk}")
    assert row.select_one(".badge").get_text(strip=True) == "Queued"
    assert row["hx-get"] == f"{status_url(feedback)}?poll=1"
    new_key = page.select_one("form.feedback-form input[name=idempotency_key]")["value"]
    assert new_key != key
    uuid.UUID(new_key)
    assert page.select_one("form.feedback-form input[name=reason]:checked") is None
    assert page.select_one("form.feedback-form textarea[name=note]").get_text().strip() == ""
    assert errors(page) == ""


def test_a_plain_post_redirects_to_the_lead_page_which_shows_it(agent_client, make_lead, conversion_reason):
    lead = make_lead()
    response = post_feedback(agent_client, lead, feedback_type="conversion", reason=conversion_reason.pk)
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    feedback = Feedback.objects.get()
    page = html(agent_client.get(response["Location"]))
    row = page.select_one(f"tr#feedback-{feedback.pk}")
    assert row.select_one(".badge").get_text(strip=True) == "Queued"
    assert "Sale closed" in row.get_text()
    # Neutral, never green: LeadConduit's answer (the row) may still be a rejection.
    message = page.select_one(".messages .message")
    assert message.get_text(strip=True).startswith("Conversion recorded.")
    assert "message-info" in message["class"]
    assert "message-success" not in message["class"]


def test_a_conversion_needs_no_reason(agent_client, make_lead):
    lead = make_lead()
    response = post_feedback(agent_client, lead, feedback_type="conversion")
    assert response.status_code == 302
    assert Feedback.objects.get().reason_text == ""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": None}, "Choose a reason for the return."),
        ({"reason": "conversion"}, "is not a return reason"),
        ({"reason": "999999"}, "choose another"),
        ({"reason": "inactive"}, "choose another"),
        ({"reason": "return", "feedback_type": "refund"}, "Choose Return or Conversion"),
        ({"reason": "return", "feedback_type": None}, "Choose Return or Conversion"),
        ({"reason": "return", "idempotency_key": "not-a-key"}, "out of date"),
        ({"reason": "return", "idempotency_key": None}, "out of date"),
        ({"reason": "return", "note": "x" * 1001}, "at most 1000 characters"),
    ],
)
def test_invalid_input_shows_a_clear_error_and_stores_nothing(agent_client, make_lead, fields, message):
    lead = make_lead()
    reasons = {
        "return": str(Reason.objects.get(label="Wrong number").pk),
        "conversion": str(Reason.objects.get(label="Sale closed").pk),
        "inactive": str(Reason.objects.get(label="Language barrier").pk),
    }
    Reason.objects.filter(label="Language barrier").update(active=False)
    if fields.get("reason") in reasons:
        fields = fields | {"reason": reasons[fields["reason"]]}
    for htmx in (False, True):
        response = post_feedback(agent_client, lead, htmx=htmx, **fields)
        assert response.status_code == (200 if htmx else 422)
        page = html(response)
        assert message in errors(page)
        assert page.select_one("form.feedback-form") is not None
        if htmx:
            assert top_level(page) == [("div", "feedback-panel")]
        else:
            assert page.find("html") is not None
    assert not Feedback.objects.exists()


def test_an_invalid_post_keeps_what_the_agent_chose(agent_client, make_lead, conversion_reason):
    lead = make_lead()
    key = str(uuid.uuid4())
    page = html(post_feedback(agent_client, lead, reason=conversion_reason.pk, note="keep me", idempotency_key=key))
    form = page.select_one("form.feedback-form")
    assert form.select_one("input[name=feedback_type]:checked")["value"] == "return"
    assert form.select_one("input[name=reason]:checked")["value"] == str(conversion_reason.pk)
    assert form.select_one("textarea[name=note]").get_text().strip() == "keep me"
    assert form.select_one("input[name=idempotency_key]")["value"] == key


def test_a_bad_idempotency_key_is_replaced_so_the_next_post_can_succeed(agent_client, make_lead, return_reason):
    lead = make_lead()
    page = html(post_feedback(agent_client, lead, reason=return_reason.pk, idempotency_key="garbage"))
    new_key = page.select_one("form.feedback-form input[name=idempotency_key]")["value"]
    uuid.UUID(new_key)
    assert post_feedback(agent_client, lead, reason=return_reason.pk, idempotency_key=new_key).status_code == 302


def test_a_second_live_return_is_refused(agent_client, make_lead, return_reason):
    lead = make_lead()
    assert post_feedback(agent_client, lead, reason=return_reason.pk).status_code == 302
    for htmx in (False, True):
        response = post_feedback(agent_client, lead, htmx=htmx, reason=return_reason.pk)
        assert response.status_code == (200 if htmx else 422)
        assert "already has a return" in errors(html(response))
    assert Feedback.objects.count() == 1


def test_the_same_idempotency_key_twice_creates_one_feedback(agent_client, make_lead, return_reason):
    lead = make_lead()
    key = str(uuid.uuid4())
    first = post_feedback(agent_client, lead, htmx=True, reason=return_reason.pk, idempotency_key=key)
    second = post_feedback(agent_client, lead, htmx=True, reason=return_reason.pk, idempotency_key=key)
    assert first.status_code == second.status_code == 200
    feedback = Feedback.objects.get()
    assert errors(html(second)) == ""
    assert [row["id"] for row in html(second).select("table.history tbody tr")] == [f"feedback-{feedback.pk}"]
    third = post_feedback(agent_client, lead, reason=return_reason.pk, idempotency_key=key)
    assert third.status_code == 302
    assert Feedback.objects.count() == 1


def test_an_idempotency_key_of_another_lead_is_refused(agent_client, make_lead, return_reason):
    lead, other = make_lead(), make_lead()
    key = str(uuid.uuid4())
    post_feedback(agent_client, lead, reason=return_reason.pk, idempotency_key=key)
    response = post_feedback(agent_client, other, reason=return_reason.pk, idempotency_key=key)
    assert response.status_code == 422
    assert "out of date" in errors(html(response))
    assert list(Feedback.objects.values_list("lead", flat=True)) == [lead.pk]


def test_feedback_on_an_unknown_lead_is_not_found(agent_client, return_reason):
    response = agent_client.post(
        reverse("feedback:create", kwargs={"lead_pk": 999999}),
        {"feedback_type": "return", "reason": return_reason.pk, "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 404


def test_the_feedback_url_takes_only_posts(agent_client, make_lead):
    lead = make_lead()
    assert agent_client.get(reverse("feedback:create", kwargs={"lead_pk": lead.pk})).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_web_request_never_calls_leadconduit(sandbox_url, agent_client, lead_with_event, return_reason):
    response = post_feedback(agent_client, lead_with_event, reason=return_reason.pk)
    assert response.status_code == 302
    agent_client.get(lead_with_event.get_absolute_url())
    feedback = Feedback.objects.get()
    agent_client.get(status_url(feedback), **HTMX)
    assert Feedback.objects.get().status == Status.QUEUED
    assert not SandboxCall.objects.exists()


# ---- Live status


def test_the_status_url_returns_just_the_row_for_htmx(agent_client, make_lead, return_reason):
    lead = make_lead()
    post_feedback(agent_client, lead, reason=return_reason.pk)
    feedback = Feedback.objects.get()
    response = agent_client.get(status_url(feedback), **HTMX)
    assert response.status_code == 200
    page = html(response)
    assert top_level(page) == [("tr", f"feedback-{feedback.pk}")]
    row = page.select_one("tr")
    assert row.select_one(".badge").get_text(strip=True) == "Queued"
    assert row["hx-get"] == f"{status_url(feedback)}?poll=1"
    assert row["hx-trigger"] == "load delay:100ms"  # polled fast at first, then backing off


def test_the_status_url_without_htmx_redirects_to_the_lead_page(agent_client, make_lead, return_reason):
    lead = make_lead()
    post_feedback(agent_client, lead, reason=return_reason.pk)
    response = agent_client.get(status_url(Feedback.objects.get()))
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()


def test_the_status_of_an_unknown_feedback_is_not_found(agent_client):
    assert agent_client.get(reverse("feedback:status", kwargs={"pk": 999999}), **HTMX).status_code == 404


def test_the_status_url_makes_a_fixed_number_of_queries(
    agent_client, make_lead, return_reason, django_assert_num_queries
):
    lead = make_lead()
    post_feedback(agent_client, lead, reason=return_reason.pk)
    feedback = Feedback.objects.get()
    # session, user, the role check's permissions, the feedback with its agent and attempt count
    with django_assert_num_queries(3 + PERMISSION_QUERIES):
        agent_client.get(status_url(feedback), **HTMX)


@pytest.mark.django_db(transaction=True)
def test_the_status_shows_accepted_after_delivery_and_stops_polling(
    sandbox_url, agent_client, lead_with_event, return_reason, run_worker
):
    post_feedback(agent_client, lead_with_event, reason=return_reason.pk)
    feedback = Feedback.objects.get()
    run_worker()
    row = html(agent_client.get(status_url(feedback), **HTMX)).select_one("tr")
    assert row.select_one(".badge").get_text(strip=True) == "Accepted"
    assert row.select_one(".status-message").get_text(strip=True) == "Accepted by LeadConduit."
    assert not row.has_attr("hx-get")
    assert not row.has_attr("hx-trigger")
    assert SandboxCall.objects.count() == 1


def oob(page):
    """The out-of-band swaps a status answer carries, by the id they replace."""
    # Beside a <tr> only a <template> survives htmx's parsing; BeautifulSoup does not search inside one.
    assert page.select("[hx-swap-oob]") == []
    inside = [BeautifulSoup(template.decode_contents(), "html.parser") for template in page.select("template")]
    return {tag["id"]: tag for content in inside for tag in content.select("[hx-swap-oob]")}


def test_a_pending_status_answer_is_just_the_row(agent_client, make_lead, return_reason):
    post_feedback(agent_client, make_lead(), reason=return_reason.pk)
    page = html(agent_client.get(status_url(Feedback.objects.get()), **HTMX))
    assert oob(page) == {}


@pytest.mark.django_db(transaction=True)
def test_a_final_answer_updates_the_summary_and_refreshes_the_lead_card_out_of_band(
    sandbox_url, agent_client, make_event, return_reason, run_worker
):
    event = make_event(first_name="Rosa", last_name="Delgado", phone_1="(512) 555-7777")
    agent_client.post(
        FOR_EVENT_URL,
        {
            "event_id": event.event_id,
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    feedback = Feedback.objects.get()
    lead_page = html(agent_client.get(feedback.lead.get_absolute_url()))
    assert lead_page.select_one("#summary-return").get_text(" ", strip=True) == "Returned · Queued · Wrong number"
    assert lead_page.select_one("#lead-card h1").get_text(strip=True) == "Lead not yet known to the portal"
    run_worker()

    swaps = oob(html(agent_client.get(status_url(feedback), **HTMX)))

    assert set(swaps) == {"summary-return", "lead-card"}
    assert swaps["summary-return"].get_text(" ", strip=True) == "Returned · Accepted · Wrong number"
    assert swaps["lead-card"].select_one("h1").get_text(strip=True) == "Rosa Delgado"
    assert "(512) 555-7777" in swaps["lead-card"].get_text()


def test_a_rejection_reopens_the_half_by_a_link_and_never_stands_beside_a_queued_badge(
    agent_client, make_lead, return_reason
):
    lead = make_lead()
    post_feedback(agent_client, lead, htmx=True, reason=return_reason.pk)
    feedback = Feedback.objects.get()
    Feedback.objects.filter(pk=feedback.pk).update(status=Status.REJECTED, outcome_reason="Too late")

    page = html(agent_client.get(status_url(feedback), **HTMX))

    summary = oob(page)["summary-return"]
    assert summary.get_text(" ", strip=True).startswith("Returned · Rejected by LeadConduit · Wrong number")
    assert summary.select_one("a")["href"] == lead.get_absolute_url()
    assert [badge.get_text(strip=True) for badge in page.select(".badge")] == ["Rejected by LeadConduit"]
    assert summary.select_one(".badge").get_text(strip=True) == "Rejected by LeadConduit"


def test_after_a_submit_the_new_row_is_marked_for_focus(agent_client, make_lead, return_reason):
    page = html(post_feedback(agent_client, make_lead(), htmx=True, reason=return_reason.pk))
    feedback = Feedback.objects.get()
    assert [row["id"] for row in page.select("tr[data-just-sent]")] == [f"feedback-{feedback.pk}"]
    assert page.select_one(f"tr#feedback-{feedback.pk}")["tabindex"] == "-1"
    assert page.select_one("#summary-return").get_text(" ", strip=True) == "Returned · Queued · Wrong number"
    conversion = page.select_one("form.feedback-form input[name=feedback_type][value=conversion]")
    assert not conversion.has_attr("checked")  # offered; C chooses it


@pytest.mark.django_db(transaction=True)
def test_the_status_shows_leadconduits_reason_for_a_rejection(
    sandbox_url, agent_client, make_event, make_lead, return_reason, run_worker
):
    event = make_event(allowed_reasons="Duplicate lead")
    lead = make_lead(event_id=event.event_id)
    post_feedback(agent_client, lead, reason=return_reason.pk)
    feedback = Feedback.objects.get()
    run_worker()
    row = html(agent_client.get(status_url(feedback), **HTMX)).select_one("tr")
    assert row.select_one(".badge").get_text(strip=True) == "Rejected by LeadConduit"
    assert "Reason 'Wrong number' is not allowed" in row.select_one(".status-message").get_text()
    assert not row.has_attr("hx-get")


# ---- Feedback on an event id the portal does not know


def test_an_event_id_the_portal_knows_opens_its_lead(agent_client, make_lead):
    lead = make_lead(event_id="5af4b98a0c1d2e3f40516273")
    for typed in ("5af4b98a0c1d2e3f40516273", " 5AF4B98A0C1D2E3F40516273 "):
        response = agent_client.get(FOR_EVENT_URL, {"event_id": typed})
        assert response.status_code == 302
        assert response["Location"] == lead.get_absolute_url()


def test_an_unknown_event_id_is_prefilled(agent_client):
    response = agent_client.get(FOR_EVENT_URL, {"event_id": "abcdef0123456789abcdef01"})
    assert response.status_code == 200
    form = html(response).select_one("main form")
    assert form.select_one("input[name=event_id]")["value"] == "abcdef0123456789abcdef01"
    uuid.UUID(form.select_one("input[name=idempotency_key]")["value"])
    assert errors(html(response)) == ""


def picker(page):
    """Per feedback type offered: (digit key, label) of each reason, as the form's radios carry them."""
    form = page.select_one("form.feedback-form")
    return {
        group["data-type"]: [
            (radio.get("data-hotkey"), radio.find_parent("label").select_one(".reason-label").get_text(strip=True))
            for radio in group.select("input[name=reason]")
        ]
        for group in form.select("fieldset.reasons")
    }


def test_the_event_form_offers_the_lead_pages_digit_key_picker(agent_client, make_lead):
    Reason.objects.filter(label="Language barrier").update(active=False)
    event_page = html(agent_client.get(FOR_EVENT_URL))
    lead_page = html(agent_client.get(make_lead().get_absolute_url()))

    assert picker(event_page) == picker(lead_page)
    assert picker(event_page)["conversion"] == [
        ("1", "Sale closed"),
        ("2", "Appointment set"),
        ("3", "Application submitted"),
    ]
    assert ("8", "Language barrier") not in picker(event_page)["return"]
    types = event_page.select("form.feedback-form fieldset.type-choice input[name=feedback_type]")
    assert [(radio["value"], radio["data-shortcut"]) for radio in types] == [("return", "r"), ("conversion", "c")]


@pytest.mark.parametrize("event_id", ["abc", "abcdef0123456789abcdef0g", "abcdef0123456789abcdef012", ""])
def test_a_malformed_event_id_is_refused_and_nothing_is_stored(agent_client, return_reason, event_id):
    response = agent_client.post(
        FOR_EVENT_URL,
        {
            "event_id": event_id,
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422
    page = html(response)
    assert errors(page)
    assert page.select_one("input[name=event_id]").get("value", "") == event_id
    assert not Lead.objects.exists()
    assert not Feedback.objects.exists()


def test_an_event_form_without_a_reason_for_a_return_is_refused(agent_client):
    response = agent_client.post(
        FOR_EVENT_URL,
        {"event_id": "abcdef0123456789abcdef01", "feedback_type": "return", "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 422
    assert "Choose a reason for the return." in errors(html(response))
    assert not Lead.objects.exists()


def test_feedback_on_an_unknown_event_creates_a_placeholder_lead_and_opens_it(agent_client, return_reason):
    response = agent_client.post(
        FOR_EVENT_URL,
        {
            "event_id": " ABCDEF0123456789ABCDEF01 ",
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    lead = Lead.objects.get()
    assert lead.event_id == "abcdef0123456789abcdef01"
    assert lead.is_placeholder
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    page = html(agent_client.get(response["Location"]))
    assert page.select_one("h1#lead-name").get_text(strip=True) == "Lead not yet known to the portal"
    feedback = Feedback.objects.get()
    assert feedback.lead == lead
    assert page.select_one(f"tr#feedback-{feedback.pk} .badge").get_text(strip=True) == "Queued"


def test_feedback_on_a_known_event_uses_its_lead(agent_client, make_lead, return_reason):
    lead = make_lead()
    response = agent_client.post(
        FOR_EVENT_URL,
        {
            "event_id": lead.event_id,
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert response["Location"] == lead.get_absolute_url()
    assert Lead.objects.count() == 1
    assert Feedback.objects.get().lead == lead


def test_the_same_event_form_posted_twice_creates_one_feedback(agent_client, return_reason):
    data = {
        "event_id": "abcdef0123456789abcdef01",
        "feedback_type": "return",
        "reason": return_reason.pk,
        "idempotency_key": str(uuid.uuid4()),
    }
    assert agent_client.post(FOR_EVENT_URL, data).status_code == 302
    assert agent_client.post(FOR_EVENT_URL, data).status_code == 302
    assert Feedback.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_leadconduits_reply_fills_in_the_placeholder_lead(
    sandbox_url, agent_client, make_event, return_reason, run_worker
):
    event = make_event(first_name="Rosa", last_name="Delgado", email="Rosa@Example.com", phone_1="(512) 555-7777")
    response = agent_client.post(
        FOR_EVENT_URL,
        {
            "event_id": event.event_id,
            "feedback_type": "return",
            "reason": return_reason.pk,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    run_worker()
    page = html(agent_client.get(response["Location"]))
    assert page.select_one("h1#lead-name").get_text(strip=True) == "Rosa Delgado"
    assert page.select_one("table.history tbody tr .badge").get_text(strip=True) == "Accepted"
    assert list(Lead.objects.search("555-7777")) == [Lead.objects.get()]


def test_status_responses_vary_on_hx_request(agent_client, make_lead, return_reason):
    post_feedback(agent_client, make_lead(), reason=return_reason.pk)
    feedback = Feedback.objects.get()
    for extra in ({}, HTMX):
        vary = [part.strip().lower() for part in agent_client.get(status_url(feedback), **extra)["Vary"].split(",")]
        assert "hx-request" in vary


def test_a_key_reused_for_different_feedback_is_refused_with_a_new_key(agent_client, make_lead, return_reason):
    # The Back button restores a sent form with its key; the agent switches it to a conversion.
    lead = make_lead()
    key = str(uuid.uuid4())
    post_feedback(agent_client, lead, reason=return_reason.pk, idempotency_key=key)
    response = post_feedback(agent_client, lead, htmx=True, feedback_type="conversion", idempotency_key=key)
    page = html(response)
    assert "out of date" in errors(page)
    new_key = page.select_one("form.feedback-form input[name=idempotency_key]")["value"]
    assert new_key != key
    assert list(Feedback.objects.values_list("feedback_type", flat=True)) == ["return"]
    assert post_feedback(agent_client, lead, feedback_type="conversion", idempotency_key=new_key).status_code == 302
    assert sorted(Feedback.objects.values_list("feedback_type", flat=True)) == ["conversion", "return"]
