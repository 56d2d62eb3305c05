"""The text reports: a fixed-width table, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from evalspec.reports._format import (
    confidence_label,
    interval,
    jsonable,
    number,
    p_value,
)

CSV_COLUMNS = (
    "run_id",
    "experiment",
    "subject",
    "metric",
    "mean",
    "n",
    "stderr",
    "ci_low",
    "ci_high",
    "method",
)
_STAGE_COUNTS = ("executed", "reused", "failed")
# Characters that would end a cell or start markup: always `\`, `|`, code,
# emphasis and HTML; `_` only at a word's edge (GitHub ignores it inside a
# word); `[` only where a link could follow.
_MARKDOWN_SPECIAL = re.compile(
    r"[\\`*|<]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|\[(?=[^\]]*\]\()"
)


class Section(NamedTuple):
    """A titled table of text cells; `numeric` columns align right."""

    title: str
    header: list[str]
    rows: list[list[str]]
    numeric: set[int]


def render_table(result: Mapping[str, Any]) -> str:
    """Return the result as plain fixed-width tables for a terminal."""
    lines = [
        f"experiment  {_plain(result.get('experiment', ''))}",
        f"run         {_plain(result.get('run_id', ''))}",
        f"status      {_plain(result.get('status', ''))}",
    ]
    for section in _sections(result):
        lines += ["", section.title, *_grid(section)]

    return "\n".join(lines) + "\n"


def render_md(result: Mapping[str, Any]) -> str:
    """Return the result as GitHub-flavoured Markdown tables."""
    experiment = _markdown(result.get("experiment", ""))
    lines = [
        f"# {experiment}",
        "",
        f"run `{_plain(result.get('run_id', '')).replace('`', '')}` · "
        f"status **{_markdown(result.get('status', ''))}**",
    ]
    for section in _sections(result):
        lines += ["", f"## {section.title.capitalize()}", ""]
        lines += _markdown_table(section)

    return "\n".join(lines) + "\n"


def render_csv(result: Mapping[str, Any]) -> str:
    """Return one CSV row per metric summary, after a header row.

    Numbers keep their full precision; a missing one is an empty field.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for summary in result.get("metrics", ()):
        row = {"run_id": result.get("run_id"), "experiment": result.get("experiment")}
        row.update(summary)
        writer.writerow(_csv_field(row.get(column)) for column in CSV_COLUMNS)

    return buffer.getvalue()


def render_json(result: Mapping[str, Any]) -> str:
    """Return the whole result as indented JSON with sorted keys."""
    text = json.dumps(
        jsonable(result),
        indent=2,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )

    return text + "\n"


def _sections(result: Mapping[str, Any]) -> list[Section]:
    """Return the tables every text report shows, in order."""
    ci = confidence_label(result)
    sections = [_metrics_section(result, ci)]
    if result.get("comparisons"):
        sections.append(_comparisons_section(result, ci))
    if result.get("agreement"):
        sections.append(_agreement_section(result))
    sections.append(_stages_section(result))
    if result.get("usage"):
        sections.append(_usage_section(result))

    return sections


def _metrics_section(result: Mapping[str, Any], ci: str) -> Section:
    rows = [
        [
            m.get("subject", ""),
            m.get("metric", ""),
            number(m.get("mean")),
            interval(m.get("ci_low"), m.get("ci_high")),
            str(m.get("n", "")),
            m.get("method", ""),
        ]
        for m in result.get("metrics", ())
    ]
    header = ["subject", "metric", "mean", ci, "n", "method"]

    return Section("metrics", header, rows, numeric={2, 4})


def _comparisons_section(result: Mapping[str, Any], ci: str) -> Section:
    rows = [
        [
            c.get("metric", ""),
            c.get("baseline", ""),
            c.get("subject", ""),
            number(c.get("diff")),
            interval(c.get("ci_low"), c.get("ci_high")),
            p_value(c.get("p_value")),
            str(c.get("n", "")),
            c.get("method", ""),
        ]
        for c in result.get("comparisons", ())
    ]
    header = ["metric", "baseline", "subject", "diff", ci, "p", "n", "method"]

    return Section("comparisons", header, rows, numeric={3, 5, 6})


def _agreement_section(result: Mapping[str, Any]) -> Section:
    rows = [
        [
            a.get("subject", ""),
            " / ".join(a.get("judges", ())),
            number(a.get("agreement")),
            number(a.get("kappa")),
            str(a.get("n", "")),
        ]
        for a in result.get("agreement", ())
    ]
    header = ["subject", "judges", "agreement", "kappa", "n"]

    return Section("judge agreement", header, rows, numeric={2, 3, 4})


def _usage_section(result: Mapping[str, Any]) -> Section:
    rows = [
        [
            u.get("stage", ""),
            u.get("model", ""),
            str(u.get("calls", 0)),
            _count(u.get("prompt_tokens")),
            _count(u.get("completion_tokens")),
            _seconds(u.get("mean_latency")),
        ]
        for u in result.get("usage", ())
    ]
    header = ["stage", "model", "calls", "prompt tokens", "completion tokens"]

    return Section("model calls", [*header, "mean latency"], rows, numeric={2, 3, 4, 5})


def _seconds(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _count(value: Any) -> str:
    """Return a token count, or n/a when the provider reported none."""
    return "n/a" if value is None else str(value)


def _stages_section(result: Mapping[str, Any]) -> Section:
    rows = [
        [stage, *(str(counts.get(count, 0)) for count in _STAGE_COUNTS)]
        for stage, counts in result.get("stages", {}).items()
    ]

    return Section("stages", ["stage", *_STAGE_COUNTS], rows, numeric={1, 2, 3})


def _grid(section: Section) -> list[str]:
    """Return a header, a rule and the rows, in aligned columns."""
    table = [[_plain(cell) for cell in row] for row in [section.header, *section.rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(section.header))]
    rule = ["-" * width for width in widths]

    lines = []
    for row in [table[0], rule, *table[1:]]:
        cells = [
            cell.rjust(width) if i in section.numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())

    return lines


def _markdown_table(section: Section) -> list[str]:
    align = [
        "---:" if i in section.numeric else "---" for i in range(len(section.header))
    ]
    table = [[_markdown(cell) for cell in section.header], align]
    table += [[_markdown(cell) for cell in row] for row in section.rows]

    return ["| " + " | ".join(row) + " |" for row in table]


def _plain(value: Any) -> str:
    """Return `value` on one line, its runs of whitespace as single spaces."""
    return " ".join(str(value).split())


def _markdown(value: Any) -> str:
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match[0], _plain(value))


def _csv_field(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""

    return value
