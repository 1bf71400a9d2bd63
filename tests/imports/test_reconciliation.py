"""Reconciling LeadConduit's feedback export: one test per group, and the queue that empties itself."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from feedbackportal.feedback.models import ActionKind, Feedback, FeedbackAction, Status
from feedbackportal.feedback.services import FeedbackRefused
from feedbackportal.imports.reconciliation import ExportRow, confirm_from_export, reconcile
from tests.helpers import make_feedback

SAMPLE = Path(__file__).parent.parent / "fixtures" / "leadconduit_feedback_export.csv"


def row(number: int, lead, feedback_type: str = "return", outcome: str = "success") -> ExportRow:
    return ExportRow(number, lead.event_id.upper(), feedback_type, outcome)


def groups(result) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    return {
        group: [(finding.event_id, finding.row_numbers) for finding in items]
        for group, items in result.findings.items()
        if items
    }


def test_a_row_the_portal_has_with_the_same_outcome_agrees(make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    assert groups(reconcile([row(2, lead)])) == {"agree": [(lead.event_id, (2,))]}


def test_a_rejection_both_sides_record_agrees(make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.REJECTED)
    assert groups(reconcile([row(2, lead, outcome="failure")])) == {"agree": [(lead.event_id, (2,))]}


def test_a_row_for_an_unconfirmed_feedback_is_confirmable(make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    assert groups(reconcile([row(7, lead)])) == {"confirmable": [(lead.event_id, (7,))]}


def test_an_accepted_feedback_the_export_lacks_is_flagged_within_the_period(make_lead, return_reason):
    now = timezone.now()
    lead, old = make_lead(), make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED, answered_at=now)
    make_feedback(old, return_reason, status=Status.ACCEPTED, answered_at=now - timedelta(days=60))
    result = reconcile([], period=(now - timedelta(days=1), now + timedelta(days=1)))
    assert groups(result) == {"missing": [(lead.event_id, ())]}


def test_a_row_the_portal_never_sent_is_listed(make_lead, return_reason):
    entered_elsewhere, never_delivered = make_lead(), make_lead()
    make_feedback(never_delivered, return_reason, status=Status.FAILED)  # certainly never reached LeadConduit
    result = reconcile([row(2, entered_elsewhere), row(3, never_delivered)])
    assert groups(result) == {"elsewhere": [(entered_elsewhere.event_id, (2,)), (never_delivered.event_id, (3,))]}


def test_the_same_feedback_twice_in_leadconduit_is_listed(make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    assert groups(reconcile([row(2, lead), row(9, lead)])) == {"twice": [(lead.event_id, (2, 9))]}


def test_a_different_outcome_is_listed(make_lead, return_reason, conversion_reason):
    accepted_here, unconfirmed_here = make_lead(), make_lead()
    make_feedback(accepted_here, return_reason, status=Status.ACCEPTED)
    make_feedback(unconfirmed_here, conversion_reason, status=Status.UNCONFIRMED)
    result = reconcile([row(2, accepted_here, outcome="failure"), row(3, unconfirmed_here, "conversion", "error")])
    assert groups(result) == {"differs": [(accepted_here.event_id, (2,)), (unconfirmed_here.event_id, (3,))]}


def test_rows_match_by_event_id_and_type(make_lead, return_reason):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    assert groups(reconcile([row(2, lead, "conversion")])) == {"elsewhere": [(lead.event_id, (2,))]}


def test_the_unconfirmed_queue_empties_itself_with_the_export_as_evidence(make_lead, return_reason, manager):
    leads = [make_lead() for _ in range(3)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.UNCONFIRMED)
    result = reconcile([row(number, lead) for number, lead in enumerate(leads, start=2)])
    for finding in result.findings["confirmable"]:
        confirm_from_export(finding=finding, actor=manager, reconciliation_label="reconciliation 4")
    assert not Feedback.objects.filter(status=Status.UNCONFIRMED).exists()
    comments = sorted(FeedbackAction.objects.filter(action=ActionKind.CONFIRMED).values_list("comment", flat=True))
    assert comments == [f"mark delivered, evidence: reconciliation 4, row {n}" for n in (2, 3, 4)]
    again = reconcile([row(number, lead) for number, lead in enumerate(leads, start=2)])
    assert len(again.findings["agree"]) == 3


def test_only_a_confirmable_finding_can_confirm(make_lead, return_reason, manager):
    lead = make_lead()
    make_feedback(lead, return_reason, status=Status.ACCEPTED)
    finding = reconcile([row(2, lead)]).findings["agree"][0]
    with pytest.raises(FeedbackRefused):
        confirm_from_export(finding=finding, actor=manager, reconciliation_label="reconciliation 1")


def test_the_recorded_sample_export_falls_into_its_groups(make_lead, return_reason):
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert {"Event ID", "Type", "Outcome", "Reason", "Time"} <= set(records[0])  # LeadConduit's column names
    portal = {"b3": Status.ACCEPTED, "b4": Status.REJECTED, "b6": Status.UNCONFIRMED, "b7": Status.ACCEPTED}
    for suffix, status in portal.items():
        make_feedback(make_lead(event_id=f"5af4b98aa8065fa3a79bf4{suffix}"), return_reason, status=status)
    rows = [
        ExportRow(number, record["Event ID"], record["Type"], record["Outcome"], record["Reason"])
        for number, record in enumerate(records, start=2)
    ]
    counts = reconcile(rows).counts()
    assert counts == {"agree": 2, "confirmable": 1, "missing": 0, "elsewhere": 1, "twice": 1, "differs": 0}


def test_reconciling_makes_one_query_per_batch(make_lead, return_reason, django_assert_num_queries):
    leads = [make_lead() for _ in range(20)]
    for lead in leads:
        make_feedback(lead, return_reason, status=Status.ACCEPTED)
    with django_assert_num_queries(1):
        reconcile([row(n, lead) for n, lead in enumerate(leads, start=2)])
