"""The Django admin's lead list stays usable at a million leads."""

from django.contrib import admin
from django.urls import reverse

from feedbackportal.leads.admin import LeadAdmin
from feedbackportal.leads.models import Lead


def test_the_lead_list_never_counts_or_scans_the_whole_table():
    lead_admin = admin.site._registry[Lead]
    assert isinstance(lead_admin, LeadAdmin)
    assert lead_admin.show_full_result_count is False
    assert lead_admin.date_hierarchy is None
    assert "source_name" not in lead_admin.list_filter


def test_the_lead_list_searches_like_the_agents(admin_member_client, make_lead):
    mary = make_lead(first_name="Mary", last_name="Smith", phone="512-555-0101")
    make_lead(first_name="Joe", last_name="Blow", phone="512-555-0202")
    url = reverse("admin:leads_lead_changelist")

    for term in ["Smith, Mary", "555-0101", "mary smith"]:
        response = admin_member_client.get(url, {"q": term})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [mary]
