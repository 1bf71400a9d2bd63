"""Reconciling LeadConduit's own feedback export (managers): upload, map, watch it match, act on the groups."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from feedbackportal.htmx import AuthedHttpRequest, HtmxHttpRequest
from feedbackportal.imports.forms import ConfirmFindingsForm, CsvUploadForm
from feedbackportal.imports.models import FindingGroup, ImportJob, ImportKind, ImportStatus, RowResult
from feedbackportal.imports.reconcile_batches import (
    FIELD_NAMES,
    RECONCILE_FIELDS,
    REQUIRED_FIELDS,
    guess_reconcile_mapping,
)
from feedbackportal.imports.reconciliation import (
    export_row_results,
    finding_page_details,
    group_counts,
    group_rows,
    reconciliation_confirm,
    reconciliations,
)
from feedbackportal.imports.services import import_job_create
from feedbackportal.imports.views import column_mapping_page
from feedbackportal.spreadsheet import csv_download

VIEW_REPORTS = "feedback.view_reports"
IMPORT = "imports.import_data"
RESOLVE = "feedback.resolve_feedback"
FINDINGS_PAGE_SIZE = 100
JOBS_SHOWN = 20
# "Mark all delivered" works through this many per click, so a request stays well inside its timeout.
CONFIRM_AT_ONCE = 500
# The rows that could not be matched (no event id, an unknown type or outcome): listed like a group.
UNREAD = "unread"
UNREAD_LABEL = "Rows that could not be read"


def _page(request: HttpRequest, rows: QuerySet[Any]) -> Page:
    return Paginator(rows, FINDINGS_PAGE_SIZE).get_page(request.GET.get("page"))


def _reconciliation(pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk, kind=ImportKind.RECONCILIATION)


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required([VIEW_REPORTS, IMPORT], raise_exception=True)
def upload(request: AuthedHttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        job = import_job_create(kind=ImportKind.RECONCILIATION, uploaded=file, name=file.name, user=request.user)
        return redirect("reports:reconcile_mapping", pk=job.pk)
    context = {"form": form, "jobs": reconciliations()[:JOBS_SHOWN]}
    return render(request, "reports/reconcile.html", context, status=422 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required([VIEW_REPORTS, IMPORT], raise_exception=True)
def mapping(request: HttpRequest, pk: int) -> HttpResponse:
    return column_mapping_page(
        request,
        _reconciliation(pk),
        template="reports/reconcile_mapping.html",
        initial=guess_reconcile_mapping,
        fields=RECONCILE_FIELDS,
        required=REQUIRED_FIELDS,
    )


@require_safe
@vary_on_headers("HX-Request")
@permission_required(VIEW_REPORTS, raise_exception=True)
def result(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = _reconciliation(pk)
    if job.status == ImportStatus.MAPPING:
        return redirect("reports:reconcile_mapping", pk=job.pk)
    mapping = [(FIELD_NAMES.get(field, field), column) for field, column in job.column_mapping.items()]
    context: dict[str, object] = {"job": job, "mapping": mapping}
    if job.status == ImportStatus.DONE:
        counts, still_unconfirmed = group_counts(job)
        group = request.GET.get("group", "")
        if group not in (*FindingGroup.values, UNREAD):
            group = FindingGroup.CONFIRMABLE if counts[FindingGroup.CONFIRMABLE] else FindingGroup.AGREE
        context |= {
            "counts": [(value, label, counts[value]) for value, label in FindingGroup.choices],
            "group": group,
            "still_unconfirmed": still_unconfirmed,
            "confirm_at_once": min(still_unconfirmed, CONFIRM_AT_ONCE),
        }
        if group == UNREAD:
            unread = job.rows.filter(result=RowResult.SKIPPED).order_by("row_number")
            context |= {"group_label": UNREAD_LABEL, "findings": _page(request, unread), "entries": []}
        else:
            findings = _page(request, job.findings.filter(group=group).select_related("feedback__lead").order_by("pk"))
            details = finding_page_details(job, list(findings.object_list))
            context |= {
                "group_label": FindingGroup(group).label,
                "findings": findings,
                "entries": [(finding, details[finding.pk]) for finding in findings.object_list],
            }
    template = "reports/reconciliation.html#results" if request.htmx else "reports/reconciliation.html"
    return render(request, template, context)


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def group_file(request: HttpRequest, pk: int, group: str) -> StreamingHttpResponse:
    job = _reconciliation(pk)
    if group not in FindingGroup.values:
        raise Http404("No such group.")
    return csv_download(group_rows(job, group), f"reconciliation-{job.pk}-{group}.csv")


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def rows_file(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = _reconciliation(pk)
    return csv_download(export_row_results(job), f"reconciliation-{job.pk}-rows.csv")


@require_POST
@permission_required(RESOLVE, raise_exception=True)
def confirm(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    job = _reconciliation(pk)
    form = ConfirmFindingsForm(request.POST)
    finding_ids = form.finding_ids() if form.is_valid() else []
    back = f"{job.get_absolute_url()}?group={FindingGroup.CONFIRMABLE}"
    if finding_ids == []:
        messages.error(request, "Choose a row of this reconciliation to mark delivered.")
        return redirect(back)
    confirmed, problems = reconciliation_confirm(
        job=job, actor=request.user, finding_ids=finding_ids, limit=CONFIRM_AT_ONCE
    )
    if confirmed:
        marked = f"Marked {confirmed} delivered, with reconciliation {job.pk} as evidence."
        waiting = group_counts(job)[1] if finding_ids is None else 0
        messages.success(request, f"{marked} {waiting} more to go: mark the rest." if waiting else marked)
    for problem in problems:
        messages.error(request, problem)
    if not confirmed and not problems:
        messages.info(request, "Nothing left to mark delivered: every one has moved on already.")
    return redirect(back)
