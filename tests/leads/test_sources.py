"""Sources: the field mapping, the seller's wording for our reasons, and the return window on the lead page."""

import uuid
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.leads.models import DEFAULT_FIELD_MAPPING, Lead, Source, SourceReasonWording
from tests.conftest import new_event_id
from tests.helpers import PERMISSION_QUERIES


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="SunPeak Solar", slug="sunpeak", return_window_days=7)


# ---- Field mapping


def test_a_new_source_maps_leadconduits_usual_parameter_names(db):
    source = Source.objects.create(name="New", slug="new")
    assert source.mapping == DEFAULT_FIELD_MAPPING
    assert source.mapping["phone"] == "phone_1"
    assert len(source.intake_token) >= 40


def test_a_partial_mapping_keeps_the_defaults_for_the_rest(source):
    source.field_mapping = {"event_id": "lc_event_id", "email": "  contact_email "}
    assert source.mapping == DEFAULT_FIELD_MAPPING | {"event_id": "lc_event_id", "email": "contact_email"}


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"favourite_colour": "colour"}, "Unknown lead field"),
        ({"email": ""}, "non-empty"),
        (["event_id"], "Give an object"),
    ],
)
def test_a_mapping_with_unknown_fields_or_empty_names_does_not_validate(source, mapping, words):
    source.field_mapping = mapping
    with pytest.raises(ValidationError, match=words):
        source.full_clean()


# ---- Wording overrides: the text this seller accepts for our catalog reason


def test_a_return_sends_the_sources_wording_for_the_reason(source, make_lead, return_reason):
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    feedback = submit_feedback(lead=make_lead(source=source), feedback_type="return", reason=return_reason)
    assert (feedback.reason, feedback.reason_text) == (return_reason, "Invalid phone")


def test_without_an_override_the_catalog_text_is_sent(source, make_lead, return_reason):
    other_reason = return_reason.__class__.objects.get(label="Duplicate lead")
    SourceReasonWording.objects.create(source=source, reason=other_reason, text="Dupe")
    feedback = submit_feedback(lead=make_lead(source=source), feedback_type="return", reason=return_reason)
    assert feedback.reason_text == "Wrong number"


def test_another_sources_wording_is_not_used(source, make_lead, return_reason):
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    other = Source.objects.create(name="Other", slug="other")
    assert submit_feedback(lead=make_lead(source=other), feedback_type="return", reason=return_reason).reason_text == (
        "Wrong number"
    )
    assert submit_feedback(lead=make_lead(), feedback_type="return", reason=return_reason).reason_text == (
        "Wrong number"
    )


def test_the_worker_sends_the_override_to_leadconduit(
    sandbox_url, source, lead_with_event, return_reason, run_worker, agent_client
):
    from feedbackportal.sandbox.models import SandboxCall

    lead_with_event.source = source
    lead_with_event.save()
    SourceReasonWording.objects.create(source=source, reason=return_reason, text="Invalid phone")
    data = {"feedback_type": "return", "reason": return_reason.pk, "note": "", "idempotency_key": str(uuid.uuid4())}
    agent_client.post(reverse("feedback:create", kwargs={"lead_pk": lead_with_event.pk}), data)
    run_worker()
    assert Feedback.objects.get().reason_text == "Invalid phone"
    assert "Invalid phone" in SandboxCall.objects.get().body


# ---- Return window on the lead page


def test_the_lead_page_shows_the_source_and_the_time_left_to_return(agent_client, source, make_lead):
    lead = make_lead(source=source, received_at=timezone.now() - timedelta(days=2))
    page = html(agent_client.get(lead.get_absolute_url()))
    facts = {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True) for dt in page.select("dt")}
    assert facts["Source"] == "SunPeak Solar"
    assert facts["Return window"].startswith("4\xa0days, 23\xa0hours left")
    assert "7-day window" in facts["Return window"]
    assert page.select_one(".late-return") is None


def test_a_late_return_is_warned_about_in_the_form_but_can_still_be_sent(
    agent_client, source, make_lead, return_reason
):
    lead = make_lead(source=source, received_at=timezone.now() - timedelta(days=10))
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select_one(".return-window").get_text(" ", strip=True).startswith("Closed 3\xa0days")
    warning = page.select_one("form.feedback-form .late-return")
    assert "LeadConduit will likely reject this return" in warning.get_text()
    assert "You can still send it" in warning.get_text()
    assert page.select_one("form.feedback-form button[type=submit]").get("disabled") is None

    data = {"feedback_type": "return", "reason": return_reason.pk, "note": "", "idempotency_key": str(uuid.uuid4())}
    response = agent_client.post(reverse("feedback:create", kwargs={"lead_pk": lead.pk}), data)
    assert response.status_code == 302
    assert Feedback.objects.get().lead == lead


def test_a_source_without_a_window_says_so_and_never_warns(agent_client, make_lead):
    source = Source.objects.create(name="AutoCover", slug="autocover")
    lead = make_lead(source=source, received_at=timezone.now() - timedelta(days=300))
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select_one(".return-window").get_text(strip=True) == "No limit known for this source"
    assert page.select_one(".late-return") is None


def test_a_lead_without_a_source_shows_its_source_name_and_no_window(agent_client, make_lead):
    lead = make_lead(source_name="Old CRM")
    page = html(agent_client.get(lead.get_absolute_url()))
    assert page.select_one(".return-window") is None
    dd = next(dt for dt in page.select("dt") if dt.get_text() == "Source").find_next_sibling("dd")
    assert dd.get_text(strip=True) == "Old CRM"


def test_the_lead_page_costs_no_extra_query_for_the_source(agent_client, source, make_lead, django_assert_num_queries):
    lead = make_lead(source=source)
    # session, user, permissions, lead with source, the agent's view of it, duplicates, feedbacks, reasons
    with django_assert_num_queries(7 + PERMISSION_QUERIES):
        agent_client.get(lead.get_absolute_url())


# ---- Admin


def test_admins_keep_sources_with_their_wording_in_the_admin(admin_client, return_reason):
    add = admin_client.get(reverse("admin:leads_source_add"))
    assert add.status_code == 200
    data = {
        "name": "SunPeak Solar",
        "slug": "sunpeak-solar",
        "intake_token": "token-1",
        "field_mapping": '{"phone": "mobile"}',
        "return_window_days": "7",
        "active": "on",
        "wordings-TOTAL_FORMS": "1",
        "wordings-INITIAL_FORMS": "0",
        "wordings-0-reason": return_reason.pk,
        "wordings-0-text": "Invalid phone",
    }
    response = admin_client.post(reverse("admin:leads_source_add"), data)
    assert response.status_code == 302, response.content
    source = Source.objects.get()
    assert (source.mapping["phone"], source.return_window_days) == ("mobile", 7)
    assert source.wordings.get().text == "Invalid phone"
    change = html(admin_client.get(reverse("admin:leads_source_change", args=[source.pk])))
    assert "/intake/sunpeak-solar/" in change.get_text()
    data["field_mapping"] = '{"colour": "x"}'
    refused = admin_client.post(reverse("admin:leads_source_change", args=[source.pk]), data)
    assert "Unknown lead field(s): colour" in refused.content.decode()


def test_a_return_window_longer_than_ten_years_is_refused(source):
    source.return_window_days = 3_000_000
    with pytest.raises(ValidationError):
        source.full_clean()


def test_a_lead_page_survives_a_return_window_longer_than_the_calendar(agent_client, source, make_lead):
    lead = make_lead(source=source)
    type(source).objects.filter(pk=source.pk).update(return_window_days=3_000_000)
    assert agent_client.get(lead.get_absolute_url()).status_code == 200


def test_a_phone_with_more_digits_than_the_search_column_still_saves(db):
    # Found by the intake's property-based test on PostgreSQL, which refuses an over-long value.
    lead = Lead.objects.create(event_id=new_event_id(), phone="1" * 40)
    lead.refresh_from_db()
    assert lead.phone == "1" * 40
    assert lead.phone_digits == "1" * 20
