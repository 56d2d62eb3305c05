"""The geometry of the HTML report's charts: one bar per subject, CI whiskers.

A chart is computed here as plain numbers and strings; the template draws it
as inline SVG, escaping every string.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalspec.reports._format import MISSING, interval, number

# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
)
LABEL_WIDTH = 150
PLOT_WIDTH = 250
VALUE_WIDTH = 140
ROW_HEIGHT = 30
BAR_HEIGHT = 18
TOP = 8
AXIS_HEIGHT = 26
MAX_LABEL = 22


@dataclass(frozen=True, slots=True)
class Tick:
    """A gridline at `x` and its label."""

    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    """One subject's bar, whisker and labels, in chart coordinates."""

    subject: str
    #: The subject's name, shortened to fit beside the plot.
    short_subject: str
    #: The mean and interval as text, drawn right of the plot.
    label: str
    #: Hover text: every number the bar stands for.
    title: str
    colour: str
    #: Vertical centre of the bar's row.
    y: float
    #: Left edge and width of the bar; None when there is no mean.
    x: float | None
    width: float | None
    #: Left and right ends of the interval's whisker, when there is one.
    whisker: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Chart:
    """One metric's chart: its size, gridlines and bars."""

    metric: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_bottom: float
    zero: float
    ticks: list[Tick]
    bars: list[Bar]
    bar_height: float = BAR_HEIGHT


def build_charts(
    summaries: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    subjects: Sequence[str],
    ci_label: str,
) -> list[Chart]:
    """Return one chart per metric, subjects in the same order and colours."""
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(subjects)}
    charts = []
    for metric in metrics:
        rows = [s for s in summaries if s.get("metric") == metric]
        rows.sort(key=lambda s: subjects.index(str(s["subject"])))
        charts.append(_chart(metric, rows, colours, ci_label))

    return charts


def _chart(
    metric: str,
    summaries: Sequence[Mapping[str, Any]],
    colours: Mapping[str, str],
    ci_label: str,
) -> Chart:
    low, high, step = _domain(summaries)
    plot_bottom = TOP + ROW_HEIGHT * len(summaries)

    def x_of(value: float) -> float:
        return LABEL_WIDTH + (value - low) / (high - low) * PLOT_WIDTH

    ticks = [
        Tick(round(x_of(value), 1), f"{value:g}")
        for value in _tick_values(low, high, step)
    ]
    bars = [
        _bar(summary, i, x_of, colours, ci_label) for i, summary in enumerate(summaries)
    ]

    return Chart(
        metric=metric,
        width=LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height=plot_bottom + AXIS_HEIGHT,
        plot_left=LABEL_WIDTH,
        plot_right=LABEL_WIDTH + PLOT_WIDTH,
        plot_bottom=plot_bottom,
        zero=round(x_of(0.0), 1),
        ticks=ticks,
        bars=bars,
    )


def _bar(
    summary: Mapping[str, Any],
    row: int,
    x_of: Callable[[float], float],
    colours: Mapping[str, str],
    ci_label: str,
) -> Bar:
    subject = str(summary["subject"])
    mean, ci_low, ci_high = (_value(summary, k) for k in ("mean", "ci_low", "ci_high"))
    ci = interval(ci_low, ci_high)
    label = number(mean) if ci == MISSING else f"{number(mean)} {ci}"
    title = f"{subject}: mean {number(mean)}, {ci_label} {ci}, n={summary.get('n')}"

    x = width = None
    if mean is not None:
        left, right = sorted((x_of(0.0), x_of(mean)))
        x, width = round(left, 1), round(right - left, 1)
    whisker = None
    if ci_low is not None and ci_high is not None:
        whisker = (round(x_of(ci_low), 1), round(x_of(ci_high), 1))

    return Bar(
        subject=subject,
        short_subject=_shorten(subject),
        label=label,
        title=title,
        colour=colours[subject],
        y=TOP + ROW_HEIGHT * row + ROW_HEIGHT / 2,
        x=x,
        width=width,
        whisker=whisker,
    )


def _domain(summaries: Sequence[Mapping[str, Any]]) -> tuple[float, float, float]:
    """Return the axis's low and high ends and its tick step.

    Scores within [0, 1] get that axis, so charts of proportions compare at a
    glance; others get a range from zero with a 1-2-5 step.
    """
    values = [
        value
        for summary in summaries
        for key in ("mean", "ci_low", "ci_high")
        if (value := _value(summary, key)) is not None
    ]
    low, high = min([0.0, *values]), max([0.0, *values])
    if low >= 0 and high <= 1:
        return 0.0, 1.0, 0.25
    step = _nice_step((high - low) / 5)

    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _nice_step(raw: float) -> float:
    """Return the smallest 1, 2 or 5 times a power of ten at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power

    return 10 * power


def _tick_values(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)

    return [round(low + i * step, 10) for i in range(count + 1)]


def _value(summary: Mapping[str, Any], key: str) -> float | None:
    value = summary.get(key)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)

    return None


def _shorten(name: str) -> str:
    if len(name) <= MAX_LABEL:
        return name

    return name[: MAX_LABEL - 1] + "…"
