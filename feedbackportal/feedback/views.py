from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from feedbackportal.feedback.forms import EventFeedbackForm, FeedbackForm
from feedbackportal.feedback.selectors import feedback_panel, feedback_with_attempts
from feedbackportal.feedback.services import FeedbackRefused, submit_feedback, submit_feedback_for_event
from feedbackportal.leads.models import Lead


@require_POST
def create(request: HttpRequest, lead_pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=lead_pk)
    form = FeedbackForm(request.POST)
    feedback = None
    if form.is_valid() and form.is_fresh_for(lead.event_id):
        try:
            feedback = submit_feedback(lead=lead, agent=request.user, **form.cleaned_data)
        except FeedbackRefused as exc:
            form.add_error(None, exc.message)
    if feedback is not None and not request.htmx:
        messages.success(request, f"{feedback.get_feedback_type_display()} recorded and queued for LeadConduit.")
        return redirect("leads:detail", pk=lead.pk)
    context = feedback_panel(lead, form=None if feedback else form)
    if request.htmx:
        return render(request, "leads/lead_detail.html#feedback-panel", context)
    return render(request, "leads/lead_detail.html", context, status=422)


@require_GET
@vary_on_headers("HX-Request")
def status(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = get_object_or_404(feedback_with_attempts(), pk=pk)
    if not request.htmx:
        return redirect("leads:detail", pk=feedback.lead_id)
    return render(request, "leads/lead_detail.html#status-update", {"feedback": feedback})


@require_http_methods(["GET", "POST"])
def for_event(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        event_id = request.GET.get("event_id", "").strip().lower()
        known = Lead.objects.filter(event_id=event_id).first() if event_id else None
        if known is not None:
            return redirect("leads:detail", pk=known.pk)
        form = EventFeedbackForm(initial={"event_id": event_id})
        return render(request, "feedback/for_event.html", {"form": form})

    form = EventFeedbackForm(request.POST)
    if form.is_valid() and form.is_fresh_for(form.cleaned_data["event_id"]):
        data = dict(form.cleaned_data)
        try:
            feedback = submit_feedback_for_event(event_id=data.pop("event_id"), agent=request.user, **data)
        except FeedbackRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{feedback.get_feedback_type_display()} recorded and queued for LeadConduit.")
            if request.htmx:
                return HttpResponseClientRedirect(feedback.lead.get_absolute_url())
            return redirect("leads:detail", pk=feedback.lead_id)
    return render(request, "feedback/for_event.html", {"form": form}, status=422)
