"""The reconciliation pages: upload LeadConduit's export, map its columns, see the groups, act on them."""

import csv
import io
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackAction, Status
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.tasks import run_import
from feedbackportal.reports import reconcile_views
from tests.helpers import PERMISSION_QUERIES, logged_in, make_feedback, member

SAMPLE = Path(__file__).parent.parent / "fixtures" / "leadconduit_feedback_export.csv"
SAMPLE_PORTAL = {"b3": Status.ACCEPTED, "b4": Status.REJECTED, "b6": Status.UNCONFIRMED, "b7": Status.ACCEPTED}


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def sample_portal(make_lead, return_reason) -> dict[str, Feedback]:
    return {
        suffix: make_feedback(make_lead(event_id=f"5af4b98aa8065fa3a79bf4{suffix}"), return_reason, status=status)
        for suffix, status in SAMPLE_PORTAL.items()
    }


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def upload_sample(client) -> ImportJob:
    file = SimpleUploadedFile("march.csv", SAMPLE.read_bytes(), content_type="text/csv")
    response = client.post(reverse("reports:reconcile"), {"file": file})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:reconcile_mapping", args=[job.pk])
    return job


@pytest.fixture
def reconciled(manager_client, sample_portal) -> ImportJob:
    job = upload_sample(manager_client)
    mapping = {
        "event_id": "Event ID",
        "feedback_type": "Type",
        "outcome": "Outcome",
        "reason": "Reason",
        "time": "Time",
    }
    manager_client.post(reverse("reports:reconcile_mapping", args=[job.pk]), mapping)
    run_import.call(job.pk)  # what the worker runs, here in the test's transaction
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    return job


@pytest.fixture
def run_import_of(manager_client):
    def run(content: bytes) -> ImportJob:
        file = SimpleUploadedFile("export.csv", content, content_type="text/csv")
        response = manager_client.post(reverse("reports:reconcile"), {"file": file})
        job = ImportJob.objects.get(pk=int(response["Location"].split("/")[-3]))
        mapping = {"event_id": "Event ID", "feedback_type": "Type", "outcome": "Outcome", "time": "Time"}
        manager_client.post(reverse("reports:reconcile_mapping", args=[job.pk]), mapping)
        run_import.call(job.pk)
        job.refresh_from_db()
        return job

    return run


def counts(response) -> dict[str, str]:
    return {
        str(row["data-group"]): row.select("[data-count]")[0].get_text(strip=True)
        for row in html(response).select("table.reconcile-counts tbody tr")
    }


def test_the_mapping_page_previews_the_export_and_guesses_its_columns(manager_client):
    job = upload_sample(manager_client)
    assert (job.kind, job.status) == (ImportKind.RECONCILIATION, ImportStatus.MAPPING)

    page = html(manager_client.get(reverse("reports:reconcile_mapping", args=[job.pk])))

    assert [th.get_text() for th in page.select("table.preview th")] == [
        "Event ID", "Type", "Outcome", "Reason", "Time", "Source", "Recipient"
    ]  # fmt: skip
    assert len(page.select("table.preview tbody tr")) == 5
    chosen = {select["name"]: select.select_one("option[selected]")["value"] for select in page.select("form select")}
    assert chosen == {
        "event_id": "Event ID",
        "feedback_type": "Type",
        "outcome": "Outcome",
        "reason": "Reason",
        "time": "Time",
    }


def test_a_mapping_without_the_outcome_is_refused_and_nothing_runs(manager_client):
    job = upload_sample(manager_client)
    response = manager_client.post(
        reverse("reports:reconcile_mapping", args=[job.pk]), {"event_id": "Event ID", "feedback_type": "Type"}
    )
    assert response.status_code == 422
    assert (
        html(response).select_one(".mapping-form [role=alert]").get_text()
        == "Choose the column that holds the outcome."
    )
    job.refresh_from_db()
    assert (job.status, job.task_id) == (ImportStatus.MAPPING, "")


def test_a_reconciliation_waiting_for_its_mapping_can_be_cancelled(manager_client):
    job = upload_sample(manager_client)
    page = html(manager_client.get(reverse("reports:reconcile_mapping", args=[job.pk])))
    cancel = page.select_one("form.cancel-form")
    assert cancel["action"] == reverse("imports:cancel", args=[job.pk])

    response = manager_client.post(cancel["action"])

    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert manager_client.get(reverse("reports:reconcile_mapping", args=[job.pk]))["Location"] == job.get_absolute_url()
    assert "cancelled" in html(manager_client.get(job.get_absolute_url())).get_text().lower()


def test_the_result_shows_every_group_with_its_count_and_lists_the_confirmable_first(manager_client, reconciled):
    response = manager_client.get(reverse("reports:reconciliation", args=[reconciled.pk]))

    assert counts(response) == {
        "agree": "2", "confirmable": "1", "missing": "0", "elsewhere": "1", "twice": "1", "differs": "0"
    }  # fmt: skip
    page = html(response)
    assert page.select_one("#group-title").get_text() == "LeadConduit has it, the portal says unconfirmed"
    rows = page.select("table.findings tbody tr")
    assert [row.select_one("td a.mono").get_text() for row in rows] == ["5af4b98aa8065fa3a79bf4b6"]
    assert "success: Invalid phone" in rows[0].get_text(" ", strip=True)
    assert page.select_one("form.confirm-all button").get_text() == "Mark it delivered"


def test_another_group_is_listed_by_its_tab(manager_client, reconciled):
    page = html(manager_client.get(reverse("reports:reconciliation", args=[reconciled.pk]), {"group": "twice"}))
    row = page.select_one("table.findings tbody tr")
    assert row.select_one("td.number").get_text() == "7, 8"
    assert not page.select("form.confirm-all")


def test_mark_all_delivered_empties_the_unconfirmed_queue_with_the_export_as_evidence(manager_client, reconciled):
    url = reverse("reports:reconcile_confirm", args=[reconciled.pk])
    response = manager_client.post(url, follow=True)

    assert not Feedback.objects.filter(status=Status.UNCONFIRMED).exists()
    action = FeedbackAction.objects.get()
    assert (action.action, action.comment) == (
        ActionKind.CONFIRMED,
        f"mark delivered, evidence: reconciliation {reconciled.pk}, row 6",
    )
    page = html(response)
    assert page.select_one(".messages").get_text(strip=True) == (
        f"Marked 1 delivered, with reconciliation {reconciled.pk} as evidence."
    )
    assert not page.select("form.confirm-all")
    assert page.select_one("table.findings tbody tr td:last-child").get_text(strip=True) == "Marked delivered"


def test_mark_all_delivered_works_through_a_large_group_a_bounded_piece_per_click(
    manager_client, make_lead, return_reason, run_import_of, monkeypatch
):
    monkeypatch.setattr(reconcile_views, "CONFIRM_AT_ONCE", 2)
    leads = [make_lead() for _ in range(3)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    job = run_import_of(
        b"Event ID,Type,Outcome,Time\n" + b"".join(f"{lead.event_id},return,success,\n".encode() for lead in leads)
    )
    url = reverse("reports:reconcile_confirm", args=[job.pk])
    page = html(manager_client.get(job.get_absolute_url()))
    assert page.select_one("form.confirm-all button").get_text() == "Mark 2 of 3 delivered"

    page = html(manager_client.post(url, follow=True))
    assert page.select_one(".messages").get_text(strip=True) == (
        f"Marked 2 delivered, with reconciliation {job.pk} as evidence. 1 more to go: mark the rest."
    )
    assert page.select_one("form.confirm-all button").get_text() == "Mark it delivered"
    manager_client.post(url)
    assert not Feedback.objects.filter(status=Status.UNCONFIRMED).exists()


def test_one_row_can_be_marked_delivered(manager_client, reconciled):
    finding = reconciled.findings.get(group="confirmable")
    manager_client.post(reverse("reports:reconcile_confirm", args=[reconciled.pk]), {"finding": finding.pk})
    assert finding.feedback is not None
    finding.feedback.refresh_from_db()
    assert finding.feedback.status == Status.ACCEPTED


@pytest.mark.parametrize("finding", ["", "abc", "-1", "99999"])
def test_a_row_action_for_no_known_row_marks_nothing(manager_client, reconciled, finding):
    manager_client.post(reverse("reports:reconcile_confirm", args=[reconciled.pk]), {"finding": finding})
    assert Feedback.objects.filter(status=Status.UNCONFIRMED).count() == 1


def test_each_group_downloads_as_csv(manager_client, reconciled):
    response = manager_client.get(reverse("reports:reconcile_group_csv", args=[reconciled.pk, "confirmable"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["event_id", "type", "export_rows", "leadconduit_outcome"]
    assert rows[1][:5] == ["5af4b98aa8065fa3a79bf4b6", "return", "6", "success", "Invalid phone"]
    assert rows[1][6:8] == ["unconfirmed", "unconfirmed"]
    assert manager_client.get(reverse("reports:reconcile_group_csv", args=[reconciled.pk, "nope"])).status_code == 404


def test_every_row_downloads_with_its_group_and_the_exports_other_columns(manager_client, reconciled):
    response = manager_client.get(reverse("reports:reconcile_rows_csv", args=[reconciled.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "row", "event_id", "type", "outcome", "reason", "time", "result", "group", "message", "Source", "Recipient"
    ]  # fmt: skip
    assert rows[5] == [
        "6", "5af4b98aa8065fa3a79bf4b6", "return", "success", "Invalid phone", "2026-03-09T09:14:01+00:00", "read",
        "confirmable", "", "AutoCover Direct", "Feedback Portal",
    ]  # fmt: skip
    assert [row[7] for row in rows[1:]] == [
        "agree",
        "agree",
        "elsewhere",
        "confirmable",
        "confirmable",
        "twice",
        "twice",
    ]


def test_rows_that_could_not_be_read_are_listed_with_the_reason(manager_client, make_lead, run_import_of):
    rows = SAMPLE.read_bytes() + b"not-an-id,return,success,,,,\n5af4b98aa8065fa3a79bf4c1,refund,success,,,,\n"
    job = run_import_of(rows)

    response = manager_client.get(reverse("reports:reconciliation", args=[job.pk]), {"group": "unread"})

    assert counts(response)["unread"] == "2"
    listed = [[td.get_text() for td in tr.select("td")] for tr in html(response).select("table.import-rows tbody tr")]
    assert listed == [
        ["9", "not-an-id", "“not-an-id” is not an event id (24 characters, 0-9 and a-f)."],
        ["10", "5af4b98aa8065fa3a79bf4c1", "“refund” is neither a return nor a conversion."],
    ]


def test_while_it_runs_the_page_polls_its_progress(manager_client, sample_portal):
    job = upload_sample(manager_client)
    manager_client.post(
        reverse("reports:reconcile_mapping", args=[job.pk]),
        {"event_id": "Event ID", "feedback_type": "Type", "outcome": "Outcome"},
    )
    response = manager_client.get(reverse("reports:reconciliation", args=[job.pk]), headers={"HX-Request": "true"})
    part = html(response)
    assert part.select_one("#reconcile-results")["hx-trigger"] == "every 1s"
    assert part.select_one(".badge").get_text() == "Waiting for the worker"
    assert part.h1 is None  # the partial, not the page


def test_once_every_row_is_read_the_page_says_it_is_matching(manager_client):
    job = ImportJob.objects.create(
        kind=ImportKind.RECONCILIATION, status=ImportStatus.RUNNING, total_rows=7, processed=7, file="x.csv"
    )
    page = html(manager_client.get(reverse("reports:reconciliation", args=[job.pk])))
    assert page.select_one(".matching").get_text() == "Every row is read; matching them against the portal's feedback…"


def test_the_result_page_makes_a_fixed_number_of_queries(manager_client, reconciled, django_assert_num_queries):
    url = reverse("reports:reconciliation", args=[reconciled.pk])
    # session, user, permissions, heartbeat, job, group counts, page count, page, export rows, leads, nav count
    with django_assert_num_queries(10 + PERMISSION_QUERIES):
        manager_client.get(url, {"group": "elsewhere"})
    with django_assert_num_queries(9 + PERMISSION_QUERIES):  # the unconfirmed ones' leads come with their feedback
        manager_client.get(url, {"group": "confirmable"})


def test_the_upload_page_lists_earlier_reconciliations_in_a_fixed_number_of_queries(
    manager_client, reconciled, django_assert_num_queries
):
    with django_assert_num_queries(5 + PERMISSION_QUERIES):
        response = manager_client.get(reverse("reports:reconcile"))
    link = html(response).select_one("table.reconciliations a")
    assert link["href"] == reverse("reports:reconciliation", args=[reconciled.pk])


def test_an_agent_reaches_none_of_it(db, reconciled):
    client = logged_in(member("agent-x", "Agent"))
    urls = [
        reverse("reports:reconcile"),
        reverse("reports:reconciliation", args=[reconciled.pk]),
        reverse("reports:reconcile_group_csv", args=[reconciled.pk, "agree"]),
    ]
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    assert client.post(reverse("reports:reconcile_confirm", args=[reconciled.pk])).status_code == 403
    assert Feedback.objects.filter(status=Status.UNCONFIRMED).count() == 1


def test_the_imports_pages_send_a_reconciliation_to_its_own_page(manager_client, reconciled):
    response = manager_client.get(reverse("imports:detail", args=[reconciled.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:reconciliation", args=[reconciled.pk])
    listed = html(manager_client.get(reverse("imports:list"))).select_one("table.imports td a")
    assert listed is not None
    assert listed["href"] == reverse("reports:reconciliation", args=[reconciled.pk])
