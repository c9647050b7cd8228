"""``genops report --format html``: one self-contained page for people without Grafana.

Three charts, drawn server-side as inline SVG (:mod:`.report_svg`; the page loads
nothing, runs no script): cost over time by team (bars of a day, or of wider bins
when the range has more than ``REPORT_HTML_MAX_BINS`` days), each budget's burn-down
for its current period with the processor's forecast and its interval
(``GetForecast`` over the budget's scope), and the costliest runs. The runs are read
once, a page at a time; what is kept is one number per (day, team) and the top runs.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

from genops.governance.v1 import governance_pb2 as pb
from genops.money import format_usd
from genops_processor.cli import report_svg as svg
from genops_processor.cli.literal import literal
from genops_processor.cli.report_query import ReportQuery
from genops_processor.limits import (
    REPORT_HTML_MAX_BINS,
    REPORT_HTML_MAX_BUDGETS,
    REPORT_HTML_TEAMS,
    REPORT_HTML_TOP_RUNS,
)

FORECAST_CONFIDENCE = 0.8
MAX_FORECAST_DAYS = 366  # the processor's MAX_FORECAST_HORIZON_DAYS
Forecaster = Callable[[pb.Scope, int, float], pb.ForecastSummary | None]  # None: refused
OTHER = "(other teams)"


@dataclass
class Report:
    """What the page shows."""

    query: ReportQuery
    generated_at: dt.datetime
    runs: int = 0
    cost_micros: int = 0
    teams: list[str] = field(default_factory=list)
    days: dict[tuple[dt.date, str], int] = field(default_factory=lambda: defaultdict(int))
    top: list[tuple[int, str, str]] = field(default_factory=list)  # (micros, run, team)
    burns: list[svg.BurnDown] = field(default_factory=list)
    budgets_note: str = ""


def collect(
    query: ReportQuery, totals: pb.RunTotals, runs: Iterable[pb.RunSummary], now: dt.datetime
) -> Report:
    """Sum the runs by (start day, team), keeping the costliest ``REPORT_HTML_TOP_RUNS``."""
    found = Report(query, now, runs=totals.runs, cost_micros=totals.cost_micros)
    names = [literal(g.name or "(unset)") for g in totals.by_team]
    if totals.teams > REPORT_HTML_TEAMS:
        names = names[: REPORT_HTML_TEAMS - 1] + [OTHER]
    found.teams = names
    keep = set(found.teams)
    heap: list[tuple[int, str, str]] = []
    for run in runs:
        team = literal(run.scope.team or "(unset)")
        day = _day(run.started_at) or now.date()
        found.days[(day, team if team in keep else OTHER)] += run.cost_micros
        entry = (run.cost_micros, literal(run.run_id or run.run_key[:12]), team)
        if len(heap) < REPORT_HTML_TOP_RUNS:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
    found.top = sorted(heap, reverse=True)
    return found


def burn_downs(
    budgets: Sequence[pb.BudgetState], forecast: Forecaster, now: dt.datetime
) -> tuple[list[svg.BurnDown], str]:
    """A burn-down per budget (at most ``REPORT_HTML_MAX_BUDGETS``), and a note on the rest.
    The forecast is daily: a period ending in part of a day gets that part of a day's."""
    charts, refused = [], []
    for state in budgets[:REPORT_HTML_MAX_BUDGETS]:
        start = _moment(state.period_start) or now
        end = period_end(start, state.period, now)
        days_left = max((end - now).total_seconds() / 86_400, 0.0)
        horizon = min(max(math.ceil(days_left), 1), MAX_FORECAST_DAYS)
        summary = forecast(state.scope, horizon, FORECAST_CONFIDENCE)
        if summary is None:
            refused.append(literal(state.name))
            continue
        share = min(days_left, horizon) / horizon
        charts.append(
            svg.BurnDown(
                name=literal(state.name),
                start=start,
                end=end,
                now=now,
                limit_micros=state.limit_micros,
                spent_micros=state.spent_micros,
                point_micros=round(summary.point_micros * share),
                lower_micros=round(summary.lower_micros * share),
                upper_micros=round(summary.upper_micros * share),
                confidence=summary.confidence or FORECAST_CONFIDENCE,
            )
        )
    rest = [literal(s.name) for s in budgets[REPORT_HTML_MAX_BUDGETS:]]
    notes = [f"{len(rest)} more budget(s) not drawn: {', '.join(rest)}"] if rest else []
    if refused:
        notes.append(f"no forecast for you of budget(s) {', '.join(refused)} (not drawn)")
    return charts, "; ".join(notes)


def period_end(start: dt.datetime, period: str, now: dt.datetime) -> dt.datetime:
    """End of the budget period that began at ``start`` ("total": 30 days from now)."""
    if period == "daily":
        return start + dt.timedelta(days=1)
    if period == "weekly":
        return start + dt.timedelta(days=7)
    if period == "monthly":
        year, month = divmod(start.month, 12)
        return start.replace(year=start.year + year, month=month + 1)
    return now + dt.timedelta(days=30)


def render(found: Report) -> str:
    """The page: inline CSS and SVG only."""
    labels, series, width = _bins(found)
    title = "GenOps cost report" + (f": {found.query.describe()}" if found.query.filtered else "")
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">generated {found.generated_at:%Y-%m-%d %H:%M} UTC · '
        f"{found.runs:,} run(s) · total {format_usd(found.cost_micros)}</p>",
    ]
    if not found.runs:
        body.append(f'<p class="empty">No runs{_of(found.query)}.</p>')
    else:
        per = "day" if width == 1 else f"{width} days"
        body += [
            f"<h2>Cost over time by team <small>(one bar per {per}, by run start, UTC)"
            "</small></h2>",
            f'<div class="legend">{svg.legend([name for name, _ in series])}</div>',
            svg.stacked_bars(labels, series),
        ]
    body.append(
        "<h2>Budgets: burn-down this period, forecast and "
        f"{int(FORECAST_CONFIDENCE * 100)}% interval</h2>"
    )
    if found.burns:
        body.append('<div class="burns">')
        for chart in found.burns:
            body.append(
                f"<figure><figcaption>{_caption(chart)}</figcaption>{svg.burn_down(chart)}</figure>"
            )
        body.append("</div>")
    if found.budgets_note or not found.burns:
        body.append(f'<p class="empty">{escape(found.budgets_note or "no budgets")}</p>')
    if found.top:
        body += [
            f"<h2>Costliest runs <small>(top {len(found.top)})</small></h2>",
            svg.horizontal_bars([(f"{run} ({team})", micros) for micros, run, team in found.top]),
            _table(found.top),
        ]
    return _PAGE.format(title=escape(title), body="\n".join(body))


def _bins(found: Report) -> tuple[list[str], list[tuple[str, list[int]]], int]:
    """Day bins from the first to the last day (or the query's range), widened to at
    most ``REPORT_HTML_MAX_BINS``."""
    days = [day for day, _ in found.days]
    if not days:
        return [], [], 1
    first = found.query.since.date() if found.query.since else min(days)
    last = (found.query.until - dt.timedelta(microseconds=1)).date() if found.query.until else None
    last = max(last or max(days), first)
    span = (last - first).days + 1
    width = math.ceil(span / REPORT_HTML_MAX_BINS)
    count = math.ceil(span / width)
    labels = [f"{first + dt.timedelta(days=i * width):%Y-%m-%d}" for i in range(count)]
    values = {team: [0] * count for team in found.teams}
    for (day, team), micros in found.days.items():
        index = (day - first).days // width
        if 0 <= index < count:
            values.setdefault(team, [0] * count)[index] += micros
    return labels, [(team, values[team]) for team in values if any(values[team])], width


def _caption(chart: svg.BurnDown) -> str:
    spent = chart.spent_micros
    return (
        f"{escape(chart.name)}: spent {format_usd(spent)} of {format_usd(chart.limit_micros)}; "
        f"forecast {svg.usd(spent + chart.point_micros)} by {chart.end:%Y-%m-%d %H:%M %Z} "
        f"({svg.usd(spent + chart.lower_micros)} to {svg.usd(spent + chart.upper_micros)})"
    )


def _table(top: Sequence[tuple[int, str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(run)}</td><td>{escape(team)}</td>"
        f'<td class="num">{format_usd(micros)}</td></tr>'
        for micros, run, team in top
    )
    return f"<table><tr><th>run</th><th>team</th><th>cost</th></tr>{rows}</table>"


def _of(query: ReportQuery) -> str:
    return f" of {query.describe()}" if query.filtered else " recorded yet"


def _day(text: str) -> dt.date | None:
    moment = _moment(text)
    return moment.astimezone(dt.timezone.utc).date() if moment else None


def _moment(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px auto; max-width: 920px;
  color: #222; background: #fff; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }}
h2 {{ font-size: 16px; margin-top: 28px; }}
small, .meta {{ color: #666; font-weight: normal; }}
.legend .key {{ margin-right: 14px; font-size: 12px; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
.burns {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 12px; max-width: 420px; }}
table {{ border-collapse: collapse; font-size: 13px; margin-top: 8px; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }}
.num {{ text-align: right; }} .empty {{ color: #666; font-style: italic; }}
</style></head>
<body>
{body}
</body></html>
"""
