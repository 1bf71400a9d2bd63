from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from feedbackportal.feedback.selectors import feedback_panel
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leads.models import Lead

SEARCH_LIMIT = 25


@require_GET
@vary_on_headers("HX-Request")
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    # htmx restoring a page from history wants the whole page, like a plain request.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    leads = list(Lead.objects.search(query)[: SEARCH_LIMIT + 1]) if query else []
    if len(leads) == 1 and not request.htmx:
        # Enter without JavaScript: one match opens it straight away.
        return redirect("leads:detail", pk=leads[0].pk)
    event_id = query.lower() if is_event_id(query) else ""
    context = {
        "query": query,
        "leads": leads[:SEARCH_LIMIT],
        "more": len(leads) > SEARCH_LIMIT,
        "unknown_event_id": event_id if event_id and not leads else "",
    }
    template = "leads/search.html#results" if partial else "leads/search.html"
    return render(request, template, context)


@require_GET
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    return render(request, "leads/lead_detail.html", feedback_panel(lead))
