"""Money per source and per week: what the leads cost, what accepted returns should credit, the net.

Decimal all the way (the database sums DecimalFields; nothing here touches a float). The names
follow LeadConduit's own report columns where it has one: ``cost-per-conversion-received-success``
is the net cost divided by the conversions LeadConduit accepted.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import QuerySet

from feedbackportal.feedback.models import Feedback
from feedbackportal.reports.selectors import AllFeedbackSince, CohortCell, cohort_cells, lead_cohort

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


def _row(label: str, cells: list[CohortCell]) -> MoneyRow:
    return MoneyRow(
        label=label,
        leads=sum(cell.leads for cell in cells),
        priced_leads=sum(cell.priced for cell in cells),
        spend=sum((cell.spend for cell in cells), ZERO).quantize(CENT),
        credit_expected=sum((cell.credit for cell in cells), ZERO).quantize(CENT),
        conversions=sum(cell.converted for cell in cells),
    )


def money_by_source(cells: list[CohortCell]) -> list[MoneyRow]:
    """Per source (by name, as the rates page groups them), highest spend first."""
    by_source: dict[str | None, list[CohortCell]] = {}
    for cell in cells:
        by_source.setdefault(cell.source_name, []).append(cell)
    result = [_row(name or "(no source)", group) for name, group in by_source.items()]
    return sorted(result, key=lambda row: (-row.spend, row.label))


def money_per_week(cells: list[CohortCell]) -> list[MoneyRow]:
    """Per week the leads were received (Mondays), oldest first."""
    by_week: dict[date, list[CohortCell]] = {}
    for cell in cells:
        by_week.setdefault(cell.week, []).append(cell)
    return [_row(week.isoformat(), by_week[week]) for week in sorted(by_week)]


def money_report(
    feedback: QuerySet[Feedback],
    *,
    period: tuple[date | None, date | None],
    cells: list[CohortCell] | None = None,
    since: AllFeedbackSince | None = None,
) -> MoneyReport:
    """Money for the leads received in `period` (or `cells`, that cohort already read), credited by the
    (filtered) feedback. One query, none when given the cells. `since`: see cohort_cells."""
    if cells is None:
        cells = cohort_cells(lead_cohort(*period), feedback, since=since)
    return MoneyReport(
        sources=money_by_source(cells),
        weeks=money_per_week(cells),
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
