"""Imports (managers): leads and bulk feedback from CSV files, run by the worker."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from feedbackportal.htmx import HtmxHttpRequest
from feedbackportal.imports.csv_reader import FIELD_LABELS, ImportRefused, csv_preview, guess_mapping
from feedbackportal.imports.feedback_preview import FeedbackPreview
from feedbackportal.imports.filters import ImportRowFilter
from feedbackportal.imports.forms import ColumnMappingForm, FeedbackUploadForm, LeadUploadForm
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.imports.services import (
    import_job_cancel,
    import_job_confirm,
    import_job_create,
    import_job_fail,
    import_job_start,
    import_results,
)
from feedbackportal.spreadsheet import csv_download

IMPORT = "imports.import_data"
RESULTS_PAGE_SIZE = 100
JOBS_PAGE_SIZE = 50


@require_safe
@permission_required(IMPORT, raise_exception=True)
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = ImportJob.objects.select_related("created_by", "source")
    page = Paginator(jobs, JOBS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "imports/list.html", {"page": page})


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(IMPORT, raise_exception=True)
def upload_leads(request: HttpRequest) -> HttpResponse:
    form = LeadUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = import_job_create(
            kind=ImportKind.LEADS,
            uploaded=upload,
            name=upload.name,
            user=request.user,
            source=form.cleaned_data["source"],
        )
        return redirect("imports:mapping", pk=job.pk)
    return render(request, "imports/upload_leads.html", {"form": form}, status=422 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(IMPORT, raise_exception=True)
def mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("source"), pk=pk, kind=ImportKind.LEADS)
    return column_mapping_page(
        request, job, template="imports/mapping.html", initial=lambda header: guess_mapping(header, job.source)
    )


def column_mapping_page(
    request: HttpRequest,
    job: ImportJob,
    *,
    template: str,
    initial: Callable[[list[str]], dict[str, str]],
    **form_options: Any,
) -> HttpResponse:
    """A job waiting for its column mapping: a preview of the file's first rows and a form; posted, it
    starts the job. A file that cannot be previewed fails the job with the reason (never a 500)."""
    if job.status != ImportStatus.MAPPING:
        return redirect(job)
    name = job.file.name or ""
    try:
        header, sample = csv_preview(lambda: default_storage.open(name, "rb"))
    except ImportRefused as exc:
        import_job_fail(job=job, message=exc.message)
        messages.error(request, exc.message)
        return redirect(job)
    form = ColumnMappingForm(request.POST or None, header=header, initial=initial(header), **form_options)
    if request.method == "POST" and form.is_valid():
        import_job_start(job=job, column_mapping=form.mapping())
        return redirect(job)
    context = {"job": job, "form": form, "header": header, "sample": sample}
    return render(request, template, context, status=422 if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(IMPORT, raise_exception=True)
def upload_feedback(request: HttpRequest) -> HttpResponse:
    form = FeedbackUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = import_job_create(
            kind=ImportKind.FEEDBACK,
            uploaded=upload,
            name=upload.name,
            user=request.user,
            feedback_type=form.cleaned_data["feedback_type"],
        )
        import_job_start(job=job)
        return redirect(job)
    return render(request, "imports/upload_feedback.html", {"form": form}, status=422 if form.errors else 200)


@require_safe
@vary_on_headers("HX-Request")
@permission_required(IMPORT, raise_exception=True)
def detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    people = ImportJob.objects.select_related("created_by", "source", "confirmed_by", "cancelled_by")
    job = get_object_or_404(people, pk=pk)
    if job.kind == ImportKind.RECONCILIATION:  # its groups are on its own page, under Reports
        return redirect(job)
    if job.status == ImportStatus.MAPPING:
        return redirect("imports:mapping", pk=job.pk)
    rows = ImportRowFilter(request.GET, queryset=job.rows.select_related("lead").order_by("row_number"))
    context = {
        "job": job,
        "rows": Paginator(rows.qs, RESULTS_PAGE_SIZE).get_page(request.GET.get("page")),
        "result_filter": rows.current_tab,
        "mapping": [(FIELD_LABELS.get(field, field), column) for field, column in job.column_mapping.items()],
        "preview": FeedbackPreview.of(job) if job.preview else None,
    }
    template = "imports/detail.html#progress" if request.htmx else "imports/detail.html"
    return render(request, template, context)


@require_POST
@permission_required(IMPORT, raise_exception=True)
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk, kind=ImportKind.FEEDBACK)
    if import_job_confirm(job=job, user=request.user):
        send = FeedbackPreview.of(job).send
        messages.success(request, f"Confirmed: the worker now sends {send} {job.feedback_type}{pluralize(send)}.")
    elif job.status == ImportStatus.CANCELLED:
        messages.error(request, "This import was cancelled; nothing was sent.")
    else:
        messages.info(request, "This import was already confirmed; it is sent once.")
    return redirect(job)


@require_POST
@permission_required(IMPORT, raise_exception=True)
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if import_job_cancel(job=job, user=request.user):
        messages.success(request, f"Import #{job.pk} cancelled.")
    else:
        messages.info(request, "This import has finished; there is nothing to cancel.")
    return redirect(job)


@require_safe
@permission_required(IMPORT, raise_exception=True)
def result_file(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    return csv_download(import_results(job), f"import-{job.pk}-results.csv")
