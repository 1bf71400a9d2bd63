"""Chart geometry for server-rendered SVG: numbers in, rectangles and labels out.

The templates draw them with SVG attributes (x, y, width, height) and CSS classes only, so the
charts live under the portal's Content-Security-Policy (no inline styles, no scripts).
"""

import math
from dataclasses import dataclass, field

from feedbackportal.reports.selectors import Report, WeekRow

WIDTH = 720
HEIGHT = 240
LEFT = 48  # room for the value axis labels
BOTTOM = 28  # room for the category labels
TOP = 12


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)  # value axis
    labels: list[Tick] = field(default_factory=list)  # category axis
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, name)
    marker: float | None = None  # a reference line (e.g. the team's rate), in chart coordinates
    marker_label: str = ""
    baseline: float = 0
    left: int = LEFT

    @property
    def is_empty(self) -> bool:
        return not self.bars


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above value (1 for nothing), for round axis ticks."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def _format(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def column_chart(
    categories: list[str],
    series: list[tuple[str, str, list[float]]],
    *,
    percent: bool = False,
    label_every: int = 1,
) -> Chart:
    """Vertical bars, one group per category, one bar per series: (css class, name, values)."""
    chart = Chart(WIDTH, HEIGHT, legend=[(css, name) for css, name, _ in series])
    chart.baseline = HEIGHT - BOTTOM
    if not categories:
        return chart
    top_value = nice_ceiling(max((max(values, default=0) for _, _, values in series), default=0))
    plot_height = HEIGHT - BOTTOM - TOP
    plot_width = WIDTH - LEFT - 8
    group = plot_width / len(categories)
    bar_width = max(1.0, group * 0.8 / len(series))
    for index, category in enumerate(categories):
        group_x = LEFT + index * group + group * 0.1
        for position, (css, name, values) in enumerate(series):
            value = values[index]
            height = plot_height * value / top_value
            chart.bars.append(
                Bar(
                    x=round(group_x + position * bar_width, 1),
                    y=round(chart.baseline - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                    css=css,
                    title=f"{category}: {_format(value, percent)} {name}",
                )
            )
        if index % label_every == 0:
            chart.labels.append(Tick(round(LEFT + index * group + group / 2, 1), category))
    for step in range(5):
        value = top_value * step / 4
        chart.ticks.append(Tick(round(chart.baseline - plot_height * step / 4, 1), _format(value, percent)))
    return chart


def bar_chart(
    rows: list[tuple[str, float, str]],
    *,
    percent: bool = False,
    marker: float | None = None,
    marker_label: str = "",
    left: int = 220,
) -> Chart:
    """Horizontal bars, one per row: (label, value, css class); an optional reference line at `marker`."""
    row_height = 26
    height = max(row_height * len(rows) + BOTTOM, 60)
    chart = Chart(WIDTH, height, left=left)
    chart.baseline = height - BOTTOM
    if not rows:
        return chart
    top_value = nice_ceiling(max([value for _, value, _ in rows] + [marker or 0]))
    plot_width = WIDTH - left - 56
    for index, (label, value, css) in enumerate(rows):
        y = index * row_height + 4
        chart.bars.append(
            Bar(
                x=left,
                y=y,
                width=round(plot_width * value / top_value, 1),
                height=row_height - 8,
                css=css,
                title=f"{label}: {_format(value, percent)}",
            )
        )
        chart.labels.append(Tick(y + (row_height - 8) / 2, label))
    for step in range(5):
        chart.ticks.append(Tick(round(left + plot_width * step / 4, 1), _format(top_value * step / 4, percent)))
    if marker is not None:
        chart.marker = round(left + plot_width * marker / top_value, 1)
        chart.marker_label = marker_label
    return chart


def stacked_bar_chart(rows: list[tuple[str, list[tuple[str, str, float]]]], *, left: int = 120) -> Chart:
    """Horizontal bars split into parts: (label, [(css, name, value), …]); each bar's parts add up."""
    row_height = 34
    height = row_height * len(rows) + BOTTOM
    chart = Chart(WIDTH, height, left=left)
    chart.baseline = height - BOTTOM
    top_value = nice_ceiling(max((sum(value for _, _, value in parts) for _, parts in rows), default=0))
    plot_width = WIDTH - left - 56
    seen: dict[str, str] = {}
    for index, (label, parts) in enumerate(rows):
        y = index * row_height + 4
        x = float(left)
        for css, name, value in parts:
            seen.setdefault(css, name)
            if not value:
                continue
            width = plot_width * value / top_value
            chart.bars.append(Bar(round(x, 1), y, round(width, 1), row_height - 10, css, f"{label}: {value:,} {name}"))
            x += width
        chart.labels.append(Tick(y + (row_height - 10) / 2, label))
    for step in range(5):
        chart.ticks.append(Tick(round(left + plot_width * step / 4, 1), _format(top_value * step / 4, False)))
    chart.legend = [(css, name) for css, name in seen.items()]
    return chart


# ---- Charts from a report


def weekly_chart(weeks: list[WeekRow]) -> Chart:
    """Returns and conversions per week, side by side."""
    categories = [week.week.strftime("%b %-d") for week in weeks]
    return column_chart(
        categories,
        [
            ("series-return", "returns", [week.returns for week in weeks]),
            ("series-conversion", "conversions", [week.conversions for week in weeks]),
        ],
        label_every=max(1, len(weeks) // 12),
    )


def report_charts(report: Report) -> dict[str, Chart]:
    """Every chart of the rates page, each drawn from the report's own numbers."""
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
