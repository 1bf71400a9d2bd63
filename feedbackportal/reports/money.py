"""Money per source and per week: what the leads cost, what accepted returns should credit, the net.

Decimal all the way (the database sums DecimalFields; nothing here touches a float). The names
follow LeadConduit's own report columns where it has one: ``cost-per-conversion-received-success``
is the net cost divided by the conversions LeadConduit accepted.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from feedbackportal.feedback.models import Feedback, FeedbackType, Status
from feedbackportal.leads.models import Lead
from feedbackportal.reports.selectors import _week_of, lead_cohort, week_start

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class MoneyRow:
    """One source's or one week's money over the leads received in the period."""

    label: str
    leads: int
    priced_leads: int
    spend: Decimal  # what the priced leads cost
    credit_expected: Decimal  # the price of each lead whose return LeadConduit accepted
    conversions: int  # leads with a conversion LeadConduit accepted

    @property
    def unpriced_leads(self) -> int:
        return self.leads - self.priced_leads

    @property
    def net_cost(self) -> Decimal:
        return self.spend - self.credit_expected

    @property
    def cost_per_conversion(self) -> Decimal | None:
        """LeadConduit's cost-per-conversion-received-success; None without a conversion."""
        if not self.conversions:
            return None
        return (self.net_cost / self.conversions).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class MoneyReport:
    sources: list[MoneyRow]
    weeks: list[MoneyRow]
    currency: str

    @property
    def total(self) -> MoneyRow:
        rows = self.sources
        return MoneyRow(
            label="All sources",
            leads=sum(row.leads for row in rows),
            priced_leads=sum(row.priced_leads for row in rows),
            spend=sum((row.spend for row in rows), ZERO),
            credit_expected=sum((row.credit_expected for row in rows), ZERO),
            conversions=sum(row.conversions for row in rows),
        )


def _accepted(feedback: QuerySet[Feedback], feedback_type: str) -> QuerySet[Feedback, Any]:
    return feedback.filter(feedback_type=feedback_type, status=Status.ACCEPTED).values("lead_id")


def _money_columns(feedback: QuerySet[Feedback]) -> dict[str, Any]:
    returned = _accepted(feedback, FeedbackType.RETURN)
    converted = _accepted(feedback, FeedbackType.CONVERSION)
    return {
        "lead_count": Count("pk"),
        "priced": Count("pk", filter=Q(price__isnull=False)),
        "spend": Sum("price"),
        "credit": Sum("price", filter=Q(pk__in=returned)),
        "converted": Count("pk", filter=Q(pk__in=converted)),
    }


def _row(label: str, values: Mapping[str, Any]) -> MoneyRow:
    return MoneyRow(
        label=label,
        leads=values["lead_count"],
        priced_leads=values["priced"],
        spend=Decimal(values["spend"] or 0).quantize(CENT),
        credit_expected=Decimal(values["credit"] or 0).quantize(CENT),
        conversions=values["converted"],
    )


def money_by_source(cohort: QuerySet[Lead], feedback: QuerySet[Feedback]) -> list[MoneyRow]:
    """Per source (by name, as the rates page groups them), highest spend first. One query."""
    rows = cohort.order_by().values("source_name").annotate(**_money_columns(feedback))
    result = [_row(row["source_name"] or "(no source)", row) for row in rows]
    return sorted(result, key=lambda row: (-row.spend, row.label))


def money_per_week(cohort: QuerySet[Lead], feedback: QuerySet[Feedback]) -> list[MoneyRow]:
    """Per week the leads were received (Mondays), oldest first. One query."""
    weekly = cohort.order_by().annotate(week=week_start("received_at")).values("week")
    rows = weekly.annotate(**_money_columns(feedback))
    by_week: dict[date, Mapping[str, Any]] = {_week_of(row["week"]): row for row in rows}
    return [_row(week.isoformat(), by_week[week]) for week in sorted(by_week)]


def money_report(feedback: QuerySet[Feedback], *, period: tuple[date | None, date | None]) -> MoneyReport:
    """Money for the leads received in `period`, credited by the (filtered) feedback. Two queries."""
    feedback = feedback.order_by().select_related(None)
    cohort = lead_cohort(*period)
    return MoneyReport(
        sources=money_by_source(cohort, feedback),
        weeks=money_per_week(cohort, feedback),
        currency=settings.CURRENCY,
    )


MONEY_CSV_HEADER = [
    "group",
    "source_or_week",
    "leads",
    "priced_leads",
    "spend",
    "credit_expected",
    "net_cost",
    "conversion-received-success",
    "cost-per-conversion-received-success",
    "currency",
]


def money_rows(report: MoneyReport) -> Iterator[list]:
    """The money report as CSV rows: per source, then per week; amounts as plain decimal text."""
    yield MONEY_CSV_HEADER
    for group, rows in (("source", report.sources), ("week", report.weeks), ("total", [report.total])):
        for row in rows:
            per_conversion = row.cost_per_conversion
            yield [
                group,
                row.label,
                row.leads,
                row.priced_leads,
                f"{row.spend:f}",
                f"{row.credit_expected:f}",
                f"{row.net_cost:f}",
                row.conversions,
                "" if per_conversion is None else f"{per_conversion:f}",
                report.currency,
            ]
