from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from feedbackportal.feedback.filters import AttentionQueueFilter
from feedbackportal.feedback.forms import EventFeedbackForm, FeedbackForm, ResolutionForm
from feedbackportal.feedback.models import ActionKind, Feedback, Status
from feedbackportal.feedback.polling import polls_made
from feedbackportal.feedback.selectors import (
    attention_queue,
    feedback_for_resolution,
    feedback_panel,
    feedback_with_attempts,
    needs_attention_counts,
    reason_groups,
)
from feedbackportal.feedback.services import (
    FeedbackRefused,
    resolve_feedback,
    submit_feedback,
    submit_feedback_for_event,
    undo_feedback,
)
from feedbackportal.htmx import AuthedHttpRequest
from feedbackportal.leads.models import Lead


@require_POST
def create(request: AuthedHttpRequest, lead_pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=lead_pk)
    form = FeedbackForm(request.POST)
    feedback = None
    if form.is_valid() and form.is_fresh_for(lead.event_id):
        try:
            feedback = submit_feedback(lead=lead, agent=request.user, **form.cleaned_data)
        except FeedbackRefused as exc:
            form.add_error(None, exc.message)
    if feedback is not None and not request.htmx:
        _say_recorded(request, feedback)
        return redirect("leads:detail", pk=lead.pk)
    context = feedback_panel(lead, form=None if feedback else form, just_sent=feedback)
    if request.htmx:
        return render(request, "leads/lead_detail.html#feedback-panel", context)
    return render(request, "leads/lead_detail.html", context, status=422)


@require_safe
@vary_on_headers("HX-Request")
def status(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    # With its lead: a final answer also refreshes the lead card, which LeadConduit's reply may fill in.
    feedback = get_object_or_404(feedback_with_attempts().select_related("lead__source"), pk=pk)
    if not request.htmx:
        return redirect("leads:detail", pk=feedback.lead_id)
    context = {"feedback": feedback, "poll": polls_made(request.GET.get("poll"))}
    return render(request, "leads/lead_detail.html#status-update", context)


@require_POST
def undo(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    feedback = get_object_or_404(Feedback.objects.select_related("lead"), pk=pk)
    try:
        undo_feedback(feedback=feedback, actor=request.user)
    except FeedbackRefused as exc:
        refused = exc.message
    else:
        refused = ""
    if request.htmx:
        context = feedback_panel(feedback.lead) | {"undo_refused_pk": feedback.pk if refused else None}
        return render(request, "leads/lead_detail.html#feedback-panel", context | {"undo_refused": refused})
    if refused:
        messages.error(request, refused)
    else:
        messages.success(request, f"{feedback.get_feedback_type_display()} undone: nothing was sent to LeadConduit.")
    return redirect("leads:detail", pk=feedback.lead_id)


@require_http_methods(["GET", "HEAD", "POST"])
def for_event(request: AuthedHttpRequest) -> HttpResponse:
    if request.method != "POST":  # GET or HEAD
        event_id = request.GET.get("event_id", "").strip().lower()
        known = Lead.objects.filter(event_id=event_id).first() if event_id else None
        if known is not None:
            return redirect("leads:detail", pk=known.pk)
        form = EventFeedbackForm(initial={"event_id": event_id})
        return render(request, "feedback/for_event.html", {"form": form, "reason_groups": reason_groups()})

    form = EventFeedbackForm(request.POST)
    if form.is_valid() and form.is_fresh_for(form.cleaned_data["event_id"]):
        data = dict(form.cleaned_data)
        try:
            feedback = submit_feedback_for_event(event_id=data.pop("event_id"), agent=request.user, **data)
        except FeedbackRefused as exc:
            form.add_error(None, exc.message)
        else:
            _say_recorded(request, feedback)
            if request.htmx:
                return HttpResponseClientRedirect(feedback.lead.get_absolute_url())
            return redirect("leads:detail", pk=feedback.lead_id)
    return render(request, "feedback/for_event.html", {"form": form, "reason_groups": reason_groups()}, status=422)


def _say_recorded(request: AuthedHttpRequest, feedback: Feedback) -> None:
    # Neutral, not green: LeadConduit has not answered yet, and its answer (the row) may be a rejection.
    kind = feedback.get_feedback_type_display()
    messages.info(request, f"{kind} recorded. Its row below shows LeadConduit's answer when it comes.")


# ---- Resolution (managers)

RESOLVE = "feedback.resolve_feedback"
QUEUE_PAGE_SIZE = 50
RESOLVED = {
    ActionKind.RESENT: "Resent: queued for one more delivery to LeadConduit.",
    ActionKind.CONFIRMED: "Marked as delivered.",
    ActionKind.CANCELLED: "Cancelled; it will not be sent.",
}


@require_safe
@permission_required(RESOLVE, raise_exception=True)
def queue(request: AuthedHttpRequest) -> HttpResponse:
    filterset = AttentionQueueFilter(request.GET, queryset=attention_queue())
    status_filter = filterset.current_tab
    page = Paginator(filterset.qs, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = needs_attention_counts()
    tabs = [
        {"value": Status.UNCONFIRMED.value, "label": Status.UNCONFIRMED.label, "count": counts["unconfirmed"]},
        {"value": Status.FAILED.value, "label": Status.FAILED.label, "count": counts["failed"]},
        {"value": Status.ERROR.value, "label": Status.ERROR.label, "count": counts["error"]},
        {"value": "all", "label": "All", "count": counts["all"]},
    ]
    context = {"page": page, "status_filter": status_filter, "tabs": tabs, "attention_counts": counts}
    return render(request, "feedback/queue.html", context)


@require_safe
@permission_required(RESOLVE, raise_exception=True)
def detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk)


@require_POST
@permission_required(RESOLVE, raise_exception=True)
def resolve(request: AuthedHttpRequest, pk: int, action: str) -> HttpResponse:
    form = ResolutionForm(request.POST)
    form.is_valid()  # every field is optional text: the service judges the comment
    feedback = form.as_seen(get_object_or_404(Feedback, pk=pk))
    comment = form.cleaned_data["comment"]
    try:
        resolve_feedback(feedback=feedback, actor=request.user, action=action, comment=comment)
    except FeedbackRefused as exc:
        refused = {"action": action, "error": exc.message, "comment": comment}
        return _render_detail(request, pk, refused=refused, status=422)
    messages.success(request, RESOLVED[ActionKind(action)])
    return redirect("feedback:detail", pk=pk)


def _render_detail(
    request: AuthedHttpRequest, pk: int, *, refused: dict | None = None, status: int = 200
) -> HttpResponse:
    try:
        feedback, attempts, actions = feedback_for_resolution(pk)
    except Feedback.DoesNotExist:
        raise Http404 from None
    context = {
        "feedback": feedback,
        "attempts": attempts,
        "actions": actions,
        "allowed": feedback.allowed_actions,
        "refused": refused or {},
    }
    return render(request, "feedback/detail.html", context, status=status)
