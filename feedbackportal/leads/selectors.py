"""Reads for the agent's desk: leads with what happened to them, and the agent's recent work."""

from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest

from feedbackportal.feedback.models import LIVE_STATUSES, Feedback, FeedbackType
from feedbackportal.leads import models as lead_models
from feedbackportal.leads.models import (
    PLACEHOLDER_RE,
    Lead,
    LeadQuerySet,
    LeadView,
    SearchShape,
    search_terms,
    short_start,
)


def feedback_state(feedback_type: str) -> Subquery:
    """The status of a lead's feedback of one type that says what happened: its live one, else its newest."""
    state = (
        Feedback.objects.filter(lead=OuterRef("pk"), feedback_type=feedback_type)
        .annotate(
            finished=Case(When(status__in=LIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("finished", "-created_at", "-id")
        .values("status")[:1]
    )
    return Subquery(state)


def with_feedback_states(leads: LeadQuerySet) -> LeadQuerySet:
    """Each lead with `return_status` and `conversion_status` (None when it has no feedback of that type).

    Correlated subqueries through the feedback's lead index: PostgreSQL evaluates them after the
    sort and limit of a search, for the rows shown only.
    """
    return leads.annotate(
        return_status=feedback_state(FeedbackType.RETURN), conversion_status=feedback_state(FeedbackType.CONVERSION)
    )


# What a search result shows (leads/templatetags/leads.py search_results): not the raw payload LeadConduit
# sent, which can run to kilobytes a lead.
RESULT_FIELDS = ("event_id", "first_name", "last_name", "email", "phone", "source_name", "received_at")


def search_page(query: str, limit: int) -> list[Lead]:
    """The first `limit` leads an agent's search finds (LeadQuerySet.ranked_search), with the fields a
    result shows (RESULT_FIELDS) and their feedback states (with_feedback_states).

    The query's SQL is built once for each shape of query (what it matches and how: "Smith" and
    "Jones" have one shape) and kept, with the values typed put in its parameters: at a million leads
    building and compiling it through the ORM cost 4-8 ms, more than PostgreSQL took to run it.
    """
    terms = search_terms(query)
    if not terms:
        return []
    shape, values = terms.shape()
    search = _search_sql(shape, short_start(query), limit, lead_models.RECENT_WINDOW)
    leads = list(Lead.objects.raw(search.sql, search.params(values, connection.ops)))
    for lead in leads:
        # SQLite's 1 or 0: a raw query converts model fields only.
        lead.exact_match = bool(lead.exact_match)  # type: ignore[attr-defined]
        lead.near_match = bool(lead.near_match)  # type: ignore[attr-defined]
    return leads


@dataclass(frozen=True)
class SearchSQL:
    """A search's SQL, with its parameters as compiled for a SearchShape: each a constant, or the text
    around one value's placeholder and whether the lookup escaped it for LIKE."""

    sql: str
    compiled: tuple

    def params(self, values: list[str], ops) -> list:
        params = []
        for param in self.compiled:
            if not isinstance(param, tuple):
                params.append(param)
                continue
            before, n, escaped, after = param
            params.append(before + (ops.prep_for_like_query(values[n]) if escaped else values[n]) + after)
        return params


@lru_cache(maxsize=256)
def _search_sql(shape: SearchShape, short: bool, limit: int, window: int) -> SearchSQL:
    """The SQL of search_page for one shape (`window`: RECENT_WINDOW, which the SQL holds)."""
    found = with_feedback_states(Lead.objects.only(*RESULT_FIELDS).ranked(shape.terms(), limit, short=short))
    sql, params = found.query.sql_with_params()
    if PLACEHOLDER_RE.search(sql):
        raise ValueError(f"a search value was written into the SQL, not passed as a parameter: {sql}")
    compiled: list = []
    for param in params:
        match = PLACEHOLDER_RE.search(param) if isinstance(param, str) else None
        if match is None:
            compiled.append(param)
        else:
            compiled.append((param[: match.start()], int(match[1]), match[2] != "%", param[match.end() :]))
    return SearchSQL(sql, tuple(compiled))


RECENT_WORK_SIZE = 10


def recent_work(user: User, *, size: int = RECENT_WORK_SIZE) -> list[Lead]:
    """The user's last `size` leads opened or given feedback, latest first, with their feedback states.

    One query. Each lead has `last_worked_at` (its later of the user's last view and last feedback).
    The candidates are the user's newest views and feedbacks, each read newest first through its
    (user, time) index, so the cost does not grow with the user's history or the table.
    """
    views = LeadView.objects.filter(user=user).order_by("-viewed_at").values("lead_id")[:size]
    # A lead can hold several feedbacks by one agent (a return, a conversion, a resubmission).
    given = Feedback.objects.filter(agent=user).order_by("-created_at").values("lead_id")[: size * 3]
    # One IN over both lists: two IN's joined by OR make PostgreSQL scan every lead. SQLite refuses a
    # LIMIT inside a UNION's arms, so each arm is a derived table.
    views_sql, views_params = views.query.sql_with_params()
    given_sql, given_params = given.query.sql_with_params()
    candidates = RawSQL(
        f"SELECT lead_id FROM ({views_sql}) AS recent_views "
        f"UNION ALL SELECT lead_id FROM ({given_sql}) AS recent_given",
        (*views_params, *given_params),
    )
    last_view = LeadView.objects.filter(user=user, lead=OuterRef("pk")).values("viewed_at")[:1]
    last_feedback = (
        Feedback.objects.filter(lead=OuterRef("pk"), agent=user).order_by("-created_at").values("created_at")[:1]
    )
    leads = (
        Lead.objects.filter(pk__in=candidates)
        .annotate(last_viewed_at=Subquery(last_view), last_feedback_at=Subquery(last_feedback))
        .annotate(
            last_worked_at=Greatest(
                Coalesce("last_viewed_at", "last_feedback_at"), Coalesce("last_feedback_at", "last_viewed_at")
            )
        )
        .order_by("-last_worked_at", "-pk")
    )
    return list(with_feedback_states(leads)[:size])
