from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from feedbackportal.reports.charts import bar_chart, column_chart, stacked_bar_chart
from feedbackportal.reports.export import history_rows
from feedbackportal.reports.forms import HistoryFilterForm, month_or_current, with_default_period
from feedbackportal.reports.selectors import (
    AGENT_FLAG_FACTOR,
    AGENT_FLAG_MIN_FEEDBACK,
    AUDIT_KINDS,
    Report,
    audit_entries,
    audit_trail,
    feedback_history,
    feedback_per_week,
    feedback_report,
    reconciliation,
)
from feedbackportal.spreadsheet import csv_download

VIEW_REPORTS = "feedback.view_reports"
PAGE_SIZE = 50


def _partial(request: HttpRequest) -> bool:
    # htmx restoring a page from history wants the whole page, like a plain request.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
@permission_required(VIEW_REPORTS, raise_exception=True)
@vary_on_headers("HX-Request")
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    filters = form.filters()
    page = Paginator(feedback_history(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "weekly": weekly_chart(feedback_per_week(filters))}
    template = "reports/history.html#results" if _partial(request) else "reports/history.html"
    return render(request, template, context)


@require_GET
@permission_required(VIEW_REPORTS, raise_exception=True)
def export(request: HttpRequest) -> StreamingHttpResponse:
    filters = HistoryFilterForm(request.GET).filters()
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_download(history_rows(feedback_history(filters)), f"feedback-history-{stamp}.csv")


@require_GET
@permission_required(VIEW_REPORTS, raise_exception=True)
@vary_on_headers("HX-Request")
def rates(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(with_default_period(request.GET))
    report = feedback_report(form.filters())
    context = {
        "form": form,
        "report": report,
        "charts": report_charts(report),
        "flag_factor": AGENT_FLAG_FACTOR,
        "flag_min": AGENT_FLAG_MIN_FEEDBACK,
    }
    template = "reports/rates.html#results" if _partial(request) else "reports/rates.html"
    return render(request, template, context)


@require_GET
@permission_required(VIEW_REPORTS, raise_exception=True)
def month(request: HttpRequest) -> HttpResponse:
    first = month_or_current(request.GET.get("month", ""))
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    rows = reconciliation(first)
    context = {
        "month": first,
        "rows": rows,
        "previous": previous,
        "following": following,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "reports/month.html", context)


@require_GET
@permission_required(VIEW_REPORTS, raise_exception=True)
def audit(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in AUDIT_KINDS:
        kind = ""
    page = Paginator(audit_trail(kind), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "entries": audit_entries(list(page.object_list)), "kind": kind, "kinds": AUDIT_KINDS}
    return render(request, "reports/audit.html", context)


# ---- Charts from a report


def weekly_chart(weeks: list):
    categories = [week.week.strftime("%b %-d") for week in weeks]
    return column_chart(
        categories,
        [
            ("series-return", "returns", [week.returns for week in weeks]),
            ("series-conversion", "conversions", [week.conversions for week in weeks]),
        ],
        label_every=max(1, len(weeks) // 12),
    )


def report_charts(report: Report) -> dict:
    rated_weeks = [week for week in report.weeks if week.leads]
    team = report.team_share
    return {
        "weekly": weekly_chart(report.weeks),
        "rate": column_chart(
            [week.week.strftime("%b %-d") for week in rated_weeks],
            [("series-return", "of leads returned", [week.return_rate or 0 for week in rated_weeks])],
            percent=True,
            label_every=max(1, len(rated_weeks) // 12),
        ),
        "sources": bar_chart(
            [(row["source"], row["rate"] or 0, "series-return") for row in report.sources[:15]],
            percent=True,
            marker=report.return_rate,
            marker_label="all sources",
        ),
        "reasons": bar_chart(
            [(row["reason_text"] or "(no reason)", row["count"], "series-return") for row in report.reasons]
        ),
        "outcomes": stacked_bar_chart(
            [
                (
                    row["label"],
                    [
                        ("series-accepted", "accepted", row["accepted"]),
                        ("series-rejected", "rejected", row["rejected"]),
                        ("series-error", "error", row["error"]),
                        ("series-unconfirmed", "unconfirmed", row["unconfirmed"]),
                        ("series-pending", "pending", row["pending"]),
                    ],
                )
                for row in report.outcomes
            ]
        ),
        "agents": bar_chart(
            [
                (agent.name, agent.return_share or 0, "series-flagged" if agent.flagged else "series-return")
                for agent in report.agents
            ],
            percent=True,
            marker=team,
            marker_label="team",
        ),
    }
