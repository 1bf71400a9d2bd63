from datetime import timedelta
from math import ceil
from typing import cast

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from feedbackportal.feedback.caps import cap_use_by_source
from feedbackportal.imports.reconciliation import last_reconciled
from feedbackportal.reports.charts import report_charts, weekly_chart
from feedbackportal.reports.export import history_rows
from feedbackportal.reports.filters import audit_filter, history_filter
from feedbackportal.reports.forms import (
    DEFAULT_WEEKS,
    default_period_start,
    has_dates,
    month_or_current,
    with_default_period,
)
from feedbackportal.reports.money import money_report, money_rows
from feedbackportal.reports.selectors import (
    AGENT_FLAG_FACTOR,
    AGENT_FLAG_MIN_FEEDBACK,
    AUDIT_KINDS,
    audit_entries,
    feedback_history,
    feedback_per_week,
    feedback_report_with_cells,
    older_than,
    reconciliation,
    start_of,
)
from feedbackportal.spreadsheet import csv_download

VIEW_REPORTS = "feedback.view_reports"
PAGE_SIZE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows: a count of a million feedbacks is slower than the page itself.
    Past the cap it pages through the first COUNT_CAP rows; the history goes on from the last one."""

    cap = COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Unordered: in the history's order PostgreSQL may walk every feedback newest first to count
        # a few thousand (twice the time for a lead-text filter at 1M, more when it has few matches).
        return cast(QuerySet, self.object_list).order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @cached_property
    def num_pages(self) -> int:
        return ceil(self.cap / self.per_page) if self.capped else super().num_pages

    def page(self, number: int | str) -> Page:
        """The page's rows, read by id: the OFFSET walks only the ids (an index), never the skipped
        rows with their joins (page 200 of a million feedbacks read 10,000 of those)."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, min(self.count, self.cap))
        rows = cast(QuerySet, self.object_list)
        on_page = rows.values("pk")[bottom:top]
        return Page(rows.filter(pk__in=on_page), number, self)


def _partial(request: HtmxHttpRequest) -> bool:
    # htmx restoring a page from history wants the whole page, like a plain request.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
@vary_on_headers("HX-Request")
def history(request: HtmxHttpRequest) -> HttpResponse:
    filters = history_filter(request.GET)
    rows, anchor = older_than(feedback_history(filters.qs), request.GET.get("older_than"))
    paginator = CappedPaginator(rows, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    # The last page the capped count reaches goes on from its last row.
    older = page.object_list[-1].pk if paginator.capped and not page.has_next() and page.object_list else None
    # Without dates the chart shows the rates page's default period, not every week there is.
    charted, first = filters.qs, filters.first_day()
    if not has_dates(request.GET):
        charted = charted.filter(created_at__gte=start_of(default_period_start()))
        first = None if filters.through_leads() else default_period_start()
    context = {
        "form": filters.form,
        "page": page,
        "weekly": weekly_chart(feedback_per_week(charted, first=first)),
        "chart_weeks": None if has_dates(request.GET) else DEFAULT_WEEKS,
        "anchor": anchor,
        "lost_anchor": bool(request.GET.get("older_than")) and anchor is None,
        "older": older,
    }
    template = "reports/history.html#results" if _partial(request) else "reports/history.html"
    return render(request, template, context)


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def export(request: HttpRequest) -> StreamingHttpResponse:
    filters = history_filter(request.GET)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_download(history_rows(feedback_history(filters.qs)), f"feedback-history-{stamp}.csv")


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
@vary_on_headers("HX-Request")
def rates(request: HtmxHttpRequest) -> HttpResponse:
    filters = history_filter(with_default_period(request.GET))
    period = filters.cohort_period()
    # One pass over the feedback, and one over the leads (for rates and money) with the feedback's
    # weeks, read at once in one snapshot.
    report, cells = feedback_report_with_cells(
        filters.qs, period=period, since=filters.all_feedback_since(), first=filters.first_day()
    )
    context = {
        "form": filters.form,
        "report": report,
        "charts": report_charts(report),
        "money": money_report(filters.qs, period=period, cells=cells),
        "caps": cap_use_by_source(),
        "flag_factor": AGENT_FLAG_FACTOR,
        "flag_min": AGENT_FLAG_MIN_FEEDBACK,
    }
    template = "reports/rates.html#results" if _partial(request) else "reports/rates.html"
    return render(request, template, context)


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def money_export(request: HttpRequest) -> StreamingHttpResponse:
    filters = history_filter(with_default_period(request.GET))
    report = money_report(filters.qs, period=filters.cohort_period(), since=filters.all_feedback_since())
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_download(money_rows(report), f"money-{stamp}.csv")


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def month(request: HttpRequest) -> HttpResponse:
    first = month_or_current(request.GET.get("month", ""))
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    rows = reconciliation(first)
    context = {
        "month": first,
        "rows": rows,
        "last_reconciled": last_reconciled(start_of(first), start_of(following)),
        "previous": previous,
        "following": following,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "reports/month.html", context)


@require_safe
@permission_required(VIEW_REPORTS, raise_exception=True)
def audit(request: HttpRequest) -> HttpResponse:
    filters = audit_filter(request.GET)
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "entries": audit_entries(list(page.object_list)),
        "kind": filters.kind_value,
        "kinds": AUDIT_KINDS,
    }
    return render(request, "reports/audit.html", context)
