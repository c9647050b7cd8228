"""The HTML report's charts, drawn here as inline SVG: no script, no fonts or files to fetch.

Each function returns one ``<svg>`` element as text. Every name in it comes from
telemetry and is escaped (``html.escape``); every bar, line and band carries a
``<title>`` so a browser shows its exact figure on hover.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from genops.money import format_usd

PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class BurnDown:
    """One budget's period: what is left now, and what the forecast leaves at its end."""

    name: str
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    limit_micros: int
    spent_micros: int
    point_micros: int  # forecast spend from now to the end of the period
    lower_micros: int
    upper_micros: int
    confidence: float


def stacked_bars(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], width: int = 880
) -> str:
    """Cost per bin (x) stacked by series (team); ``series``: (name, micros per bin)."""
    height, left, right, top, bottom = 300, 84, 10, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    step = plot_w / max(len(labels), 1)
    parts = [_axes(left, top, plot_w, plot_h, peak)]
    for index, label in enumerate(labels):
        base = 0
        x = left + index * step
        for number, (name, values) in enumerate(series):
            value = values[index]
            if value <= 0:
                continue
            y0 = top + plot_h - plot_h * (base + value) / peak
            h = plot_h * value / peak
            parts.append(
                f'<rect class="bar" x="{x + step * 0.1:.1f}" y="{y0:.1f}" '
                f'width="{max(step * 0.8, 1):.1f}" height="{max(h, 0.5):.1f}" '
                f'fill="{PALETTE[number % len(PALETTE)]}"><title>{escape(name)}, '
                f"{escape(label)}: {format_usd(value)}</title></rect>"
            )
            base += value
    every = max(1, round(len(labels) / 8))
    for index in range(0, len(labels), every):
        x = left + (index + 0.5) * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" {_FONT}>'
            f"{escape(labels[index])}</text>"
        )
    return _svg(width, height, "cost over time by team", parts)


def burn_down(chart: BurnDown, width: int = 420) -> str:
    """Budget left over the period: spent so far, then the forecast with its interval."""
    height, left, right, top, bottom = 220, 84, 10, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    left_now = chart.limit_micros - chart.spent_micros
    ends = [left_now - chart.point_micros, left_now - chart.lower_micros]
    ends.append(left_now - chart.upper_micros)
    high = max(chart.limit_micros, left_now, 1)
    low = min(0, *ends, left_now)
    span = (chart.end - chart.start).total_seconds() or 1.0

    def x(moment: dt.datetime) -> float:
        return left + plot_w * min(max((moment - chart.start).total_seconds() / span, 0), 1)

    def y(micros: int) -> float:
        return top + plot_h * (high - micros) / (high - low)

    now_x, end_x = x(chart.now), x(chart.end)
    level = int(chart.confidence * 100)
    parts = [_axes(left, top, plot_w, plot_h, high, low)]
    parts.append(
        f'<polygon class="band" points="{now_x:.1f},{y(left_now):.1f} '
        f'{end_x:.1f},{y(ends[1]):.1f} {end_x:.1f},{y(ends[2]):.1f}" '
        f'fill="#f28e2b" fill-opacity="0.25"><title>{level}% interval at period end: '
        f"{usd(ends[2])} to {usd(ends[1])} left</title></polygon>"
    )
    parts.append(
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}" '
        'stroke="#e15759" stroke-dasharray="4 3"><title>budget exhausted</title></line>'
    )
    parts.append(
        f'<polyline class="spent" points="{x(chart.start):.1f},{y(chart.limit_micros):.1f} '
        f'{now_x:.1f},{y(left_now):.1f}" fill="none" stroke="#4e79a7" stroke-width="2.5">'
        f"<title>spent {format_usd(chart.spent_micros)} of "
        f"{format_usd(chart.limit_micros)}</title></polyline>"
    )
    parts.append(
        f'<polyline class="forecast" points="{now_x:.1f},{y(left_now):.1f} '
        f'{end_x:.1f},{y(ends[0]):.1f}" fill="none" stroke="#f28e2b" stroke-width="2" '
        f'stroke-dasharray="6 3"><title>forecast: {usd(ends[0])} left at period end'
        "</title></polyline>"
    )
    for moment, anchor in ((chart.start, "start"), (chart.end, "end")):
        parts.append(
            f'<text x="{x(moment):.1f}" y="{height - bottom + 16}" text-anchor="{anchor}" '
            f"{_FONT}>{moment:%Y-%m-%d %H:%M}</text>"
        )
    return _svg(width, height, f"burn-down of budget {chart.name}", parts)


def horizontal_bars(rows: Sequence[tuple[str, int]], width: int = 880) -> str:
    """One bar per (label, micros), largest first: the costliest runs."""
    bar, left, right = 22, 260, 90
    height = max(len(rows), 1) * bar + 10
    peak = max((micros for _, micros in rows), default=0) or 1
    parts = []
    for index, (label, micros) in enumerate(rows):
        y = 5 + index * bar
        length = (width - left - right) * micros / peak
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" {_FONT}>'
            f"{escape(_clip(label, 40))}</text>"
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{max(length, 1):.1f}" '
            f'height="{bar - 6}" fill="{PALETTE[0]}"><title>{escape(label)}: '
            f"{format_usd(micros)}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 15}" {_FONT}>{format_usd(micros)}</text>'
        )
    return _svg(width, height, "costliest runs", parts)


def legend(names: Sequence[str]) -> str:
    """HTML swatches in the charts' colours, one per series."""
    return "".join(
        f'<span class="key"><i style="background:{PALETTE[n % len(PALETTE)]}"></i>'
        f"{escape(name)}</span>"
        for n, name in enumerate(names)
    )


def _axes(left: int, top: int, plot_w: float, plot_h: float, high: int, low: int = 0) -> str:
    lines = [
        f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
        'fill="none" stroke="#ccc"/>'
    ]
    for tick in range(5):
        value = low + (high - low) * tick / 4
        y = top + plot_h - plot_h * tick / 4
        lines.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f"{_FONT}>{usd(value)}</text>"
        )
    return "".join(lines)


def usd(micros: float) -> str:
    """An approximate amount (a forecast, an axis tick) to the cent: $1,234.57."""
    sign = "-" if micros < 0 else ""
    return f"{sign}${abs(micros) / 1e6:,.2f}"


def _svg(width: int, height: int, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"
