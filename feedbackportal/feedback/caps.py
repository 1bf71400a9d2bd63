"""Return caps: a seller's maximum share of returns per calendar month, and how much of it is used.

Sellers cap returns as a share of the leads they sold that month (LeadExec's "Maximum Return
Percentage", LeadsPedia's "Max Returns per Billing Cycle"). The portal cannot stop a return past
the cap (the seller decides), but it says so before an agent sends one.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.utils import timezone

from feedbackportal.feedback.models import LIVE_STATUSES, Feedback, FeedbackType
from feedbackportal.leads.models import Lead, Source

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CapUse:
    """One source's returns this calendar month against its cap."""

    source_id: int
    source_name: str
    cap_percent: Decimal
    leads: int  # leads received from the source this month
    returns: int  # returns sent, being sent or waiting for confirmation this month

    @property
    def used_percent(self) -> Decimal | None:
        """Returns as a share of this month's leads; None while no lead has arrived this month."""
        if not self.leads:
            return None
        return (Decimal(self.returns) * HUNDRED / self.leads).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def one_more_passes_cap(self) -> bool:
        """Whether one more return would take this month past the cap."""
        return (self.returns + 1) * HUNDRED > self.cap_percent * self.leads

    @property
    def over_cap(self) -> bool:
        return self.returns * HUNDRED > self.cap_percent * self.leads


def month_start(now: datetime | None = None) -> datetime:
    """Midnight on the first of the current month, in the portal's time zone."""
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def cap_use_for(source: Source | None, *, now: datetime | None = None) -> CapUse | None:
    """The source's cap use this month (two queries), or None when it has no cap."""
    if source is None or source.max_return_percent is None:
        return None
    since = month_start(now)
    leads = Lead.objects.filter(source=source, received_at__gte=since).count()
    returns = Feedback.objects.filter(
        lead__source=source, feedback_type=FeedbackType.RETURN, status__in=LIVE_STATUSES, created_at__gte=since
    ).count()
    return CapUse(source.pk, source.name, source.max_return_percent, leads, returns)


def cap_use_by_source(*, now: datetime | None = None) -> list[CapUse]:
    """Every capped source's use this month, by name, in two queries whatever the number of sources."""
    since = month_start(now)
    sources = list(
        Source.objects.filter(max_return_percent__isnull=False)
        .annotate(month_leads=Count("leads", filter=Q(leads__received_at__gte=since), distinct=True))
        .order_by("name")
    )
    returns = dict(
        Feedback.objects.filter(
            lead__source__in=[source.pk for source in sources],
            feedback_type=FeedbackType.RETURN,
            status__in=LIVE_STATUSES,
            created_at__gte=since,
        )
        .values_list("lead__source")
        .annotate(count=Count("pk"))
        .values_list("lead__source", "count")
    )
    return [
        CapUse(source.pk, source.name, source.max_return_percent, source.month_leads, returns.get(source.pk, 0))
        for source in sources
        if source.max_return_percent is not None
    ]
