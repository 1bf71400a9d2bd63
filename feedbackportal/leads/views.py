import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import replace_url

from feedbackportal.feedback.selectors import feedback_panel
from feedbackportal.htmx import AuthedHttpRequest
from feedbackportal.leadconduit import is_event_id
from feedbackportal.leadconduit.delivery_format import MAX_BODY_BYTES, BadDelivery, parse_delivery
from feedbackportal.leads.models import Lead, Source
from feedbackportal.leads.pop import screen_pop
from feedbackportal.leads.selectors import recent_work, search_page
from feedbackportal.leads.services import lead_receive, lead_view_record

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 25
# The search form's button sends this: one match of a submitted search opens the lead.
OPEN_ONE_MATCH = "open"


@require_safe
@vary_on_headers("HX-Request")
def search(request: AuthedHttpRequest) -> HttpResponse:
    # No NUL: PostgreSQL's text cannot hold one, and no name, email or number has one.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    # htmx restoring a page from history wants the whole page, like a plain request.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    leads = search_page(query, SEARCH_LIMIT + 1)
    if len(leads) == 1 and not request.htmx and request.GET.get(OPEN_ONE_MATCH):
        # Enter in the form without JavaScript: one match opens it straight away. Only then: the
        # same address loaded again (Back from the lead) lists it, or Back would land on the lead.
        return redirect("leads:detail", pk=leads[0].pk)
    event_id = query.lower() if is_event_id(query) else ""
    context = {
        "query": query,
        "leads": leads[:SEARCH_LIMIT],
        "more": len(leads) > SEARCH_LIMIT,
        "unknown_event_id": event_id if event_id and not leads else "",
    }
    if not partial:
        context["recent"] = recent_work(request.user)
    template = "leads/search.html#results" if partial else "leads/search.html"
    response = render(request, template, context)
    if partial:
        # The query lives in the address, so Back from a lead (or a reload) shows these results again.
        replace_url(response, search_url(query))
    return response


def search_url(query: str) -> str:
    """The search page's address for a query: what Back, a reload or a screen-pop opens."""
    url = reverse("leads:search")
    return f"{url}?{urlencode({'q': query})}" if query.strip() else url


@require_safe
def lead_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead.objects.select_related("source"), pk=pk)
    lead_view_record(lead=lead, user=request.user)
    return render(request, "leads/lead_detail.html", feedback_panel(lead))


@require_safe
def pop(request: AuthedHttpRequest) -> HttpResponse:
    """A dialer's screen-pop: the lead, feedback by event id, or the search (feedbackportal/leads/pop.py)."""
    found = screen_pop(request.GET)
    for problem in found.problems:
        messages.warning(request, problem)
    if found.lead is not None:
        return redirect(found.lead)
    if found.unknown_event_id:
        return redirect(f"{reverse('feedback:for_event')}?{urlencode({'event_id': found.unknown_event_id})}")
    if found.search_term:
        return redirect(search_url(found.search_term))
    if not found.problems:
        messages.error(request, "Nothing to look up: the screen-pop address needs a phone, email, event_id or name.")
    context = {"query": "", "leads": [], "recent": recent_work(request.user)}
    return render(request, "leads/search.html", context, status=400)


# ---- Lead intake: LeadConduit's delivery step posts each lead here


def intake_source(view: Callable[[HttpRequest, Source], JsonResponse]) -> Callable[[HttpRequest, str], JsonResponse]:
    """Open a lead-intake view to the source named by the URL's slug and its token, and to no one else.

    The token comes as ``X-Intake-Token``, ``Authorization: Bearer <token>`` or HTTP Basic's
    password. An unknown slug answers exactly as a wrong token does, so slugs cannot be discovered.
    """

    @csrf_exempt
    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, slug: str) -> JsonResponse:
        source = Source.objects.filter(slug=slug).first()
        if source is None or not _authenticated(request, source):
            response = _refused("Missing or wrong intake token.", 401)
            response["WWW-Authenticate"] = 'Basic realm="Lead intake"'
            return response
        return view(request, source)

    return wrapper


@require_POST
@intake_source
def intake(request: HttpRequest, source: Source) -> JsonResponse:
    if not source.active:
        return _refused("This source is switched off in the Feedback Portal.", 403)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _refused(f"The body is over {MAX_BODY_BYTES} bytes.", 413)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _refused(f"The body is over {MAX_BODY_BYTES} bytes.", 413)
    try:
        payload = parse_delivery(body, request.META.get("CONTENT_TYPE", ""))
        lead, created, warnings = lead_receive(source=source, payload=payload)
    except BadDelivery as exc:
        logger.info("Lead intake for %s refused (%s): %s", source.slug, exc.status, exc.message)
        return _refused(exc.message, exc.status)
    reply: dict[str, object] = {"outcome": "success", "lead_id": lead.pk, "created": created}
    if warnings:
        reply["warnings"] = warnings  # shown in the seller's delivery log
    return JsonResponse(reply, status=201 if created else 200)


def _refused(reason: str, status: int) -> JsonResponse:
    return JsonResponse({"outcome": "failure", "reason": reason}, status=status)


def _authenticated(request: HttpRequest, source: Source) -> bool:
    expected = source.intake_token.encode()
    given = request.META.get("HTTP_X_INTAKE_TOKEN", "")
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not given and scheme.lower() == "bearer":
        given = credentials.strip()
    elif not given and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given = decoded.partition(":")[2]
    return bool(expected) and hmac.compare_digest(given.encode("utf-8", "replace"), expected)
