"""Recent work under the search box: the agent's last ten leads opened or given feedback, with status."""

from datetime import timedelta

from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Status
from feedbackportal.leads.models import LeadView
from feedbackportal.leads.selectors import recent_work
from feedbackportal.leads.services import lead_view_record
from tests.helpers import PERMISSION_QUERIES, SEARCH_QUERIES, make_feedback

SEARCH_URL = reverse("leads:search")


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def recent_links(client) -> list[str]:
    section = html(client.get(SEARCH_URL)).select_one("section.recent-work")
    return [str(a["href"]) for a in section.select("li > a")] if section else []


def test_opening_a_lead_records_one_view_per_agent_and_lead(agent_client, agent, make_lead):
    first, second = make_lead(), make_lead()
    for lead in (first, second, first):
        assert agent_client.get(lead.get_absolute_url()).status_code == 200
    assert LeadView.objects.filter(user=agent).count() == 2
    assert recent_links(agent_client) == [first.get_absolute_url(), second.get_absolute_url()]


def test_recording_a_view_again_moves_it_forward(agent, make_lead):
    lead = make_lead()
    lead_view_record(lead=lead, user=agent)
    LeadView.objects.update(viewed_at=timezone.now() - timedelta(hours=3))
    lead_view_record(lead=lead, user=agent)
    view = LeadView.objects.get()
    assert timezone.now() - view.viewed_at < timedelta(minutes=1)


def test_the_search_page_lists_the_last_ten_leads_with_what_happened(
    agent_client, agent, make_lead, return_reason, conversion_reason
):
    now = timezone.now()
    leads = [make_lead() for _ in range(12)]
    for minutes, lead in enumerate(leads):
        LeadView.objects.create(user=agent, lead=lead, viewed_at=now - timedelta(minutes=100 - minutes))
    make_feedback(leads[-1], return_reason, status=Status.ACCEPTED, agent=agent, created_at=now - timedelta(hours=5))
    make_feedback(leads[-2], conversion_reason, status=Status.QUEUED)

    section = html(agent_client.get(SEARCH_URL)).select_one("section.recent-work")

    assert section is not None
    items = section.select("ol.recent-list > li")
    assert [item.select_one("a")["href"] for item in items] == [lead.get_absolute_url() for lead in leads[::-1][:10]]
    assert [badge.get_text(strip=True) for badge in items[0].select(".badge")] == ["Returned · Accepted"]
    assert [badge.get_text(strip=True) for badge in items[1].select(".badge")] == ["Converted · Queued"]
    assert items[2].select(".badge") == []


def test_giving_feedback_counts_as_work_on_the_lead(agent, make_lead, return_reason):
    now = timezone.now()
    opened_earlier, opened_later, never_opened = make_lead(), make_lead(), make_lead()
    LeadView.objects.create(user=agent, lead=opened_earlier, viewed_at=now - timedelta(hours=2))
    LeadView.objects.create(user=agent, lead=opened_later, viewed_at=now - timedelta(hours=1))
    make_feedback(
        opened_earlier, return_reason, status=Status.ACCEPTED, agent=agent, created_at=now - timedelta(minutes=5)
    )
    make_feedback(
        never_opened, return_reason, status=Status.REJECTED, agent=agent, created_at=now - timedelta(minutes=90)
    )

    found = recent_work(agent)

    assert found == [opened_earlier, opened_later, never_opened]
    assert found[0].last_worked_at == now - timedelta(minutes=5)


def test_other_agents_work_is_not_listed(agent, make_lead, django_user_model, return_reason):
    other = django_user_model.objects.create_user("other", password="pw")
    mine, theirs = make_lead(), make_lead()
    lead_view_record(lead=mine, user=agent)
    lead_view_record(lead=theirs, user=other)
    make_feedback(theirs, return_reason, status=Status.ACCEPTED, agent=other)
    assert recent_work(agent) == [mine]


def test_the_search_page_has_no_recent_work_section_before_any_work(agent_client):
    assert html(agent_client.get(SEARCH_URL)).select("section.recent-work") == []


def test_recent_work_is_escaped(agent_client, agent, make_lead):
    lead_view_record(lead=make_lead(first_name="<script>alert(1)</script>", source_name="<b>x</b>"), user=agent)
    section = html(agent_client.get(SEARCH_URL)).select_one("section.recent-work")
    assert section is not None
    assert section.find("script") is None
    assert section.find("b") is None


def test_the_search_page_with_recent_work_makes_a_fixed_number_of_queries(
    agent_client, agent, make_lead, return_reason, conversion_reason, django_assert_num_queries
):
    for _ in range(10):
        lead = make_lead(last_name="Capper")
        lead_view_record(lead=lead, user=agent)
        make_feedback(lead, return_reason, status=Status.ACCEPTED, agent=agent)
        make_feedback(lead, conversion_reason, status=Status.REJECTED, agent=agent)
    # session, user, the managers' banner check, recent work
    with django_assert_num_queries(3 + PERMISSION_QUERIES):
        response = agent_client.get(SEARCH_URL)
    assert len(html(response).select("section.recent-work li")) == 10
    # ... and with a query: the search's queries more
    with django_assert_num_queries(3 + PERMISSION_QUERIES + SEARCH_QUERIES):
        response = agent_client.get(SEARCH_URL, {"q": "capper"})
    assert len(html(response).select("#results li")) == 10
