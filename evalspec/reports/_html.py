"""The HTML report: one self-contained page of charts, comparisons and cases.

The page loads nothing: its style, script and charts are inline, and a
Content-Security-Policy allows only the style and script it was built with.
Every value from the result goes through jinja2's autoescaping; the result
itself is embedded as JSON that cannot close its script element.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from evalspec.reports._format import (
    MISSING,
    confidence_label,
    failures,
    interval,
    jsonable,
    metric_names,
    number,
    p_value,
    score_passed,
    subject_names,
)
from evalspec.reports._svg import build_charts

_TEMPLATE = "report.html.jinja"
_STYLE = "report.css"
_SCRIPT = "report.js"


@dataclass(frozen=True, slots=True)
class Cell:
    """A score in the cases table, and whether it counts as failed."""

    text: str
    failed: bool


@dataclass(frozen=True, slots=True)
class JudgmentView:
    """One judge's verdict on a case, every field as display text."""

    judge: str
    score: str
    verdict: str
    reasoning: str
    prompt: str
    raw: str
    error: str


@dataclass(frozen=True, slots=True)
class CaseView:
    """One case of one subject: its summary row and every stage's artifact."""

    #: Position in the result's rows, which makes element ids unique.
    index: int
    case_id: str
    subject: str
    failures: list[str]
    scores: list[Cell]
    judge_scores: list[str]
    inputs: str
    prompt: str
    candidates: list[str]
    reduced: str
    parsed: str
    #: The parsed answer as the cases table shows it: empty when there is none.
    parsed_cell: str
    parse_error: str
    judgments: list[JudgmentView]
    errors: list[Mapping[str, Any]]


def render_html(result: Mapping[str, Any]) -> str:
    """Return the result as one standalone HTML page."""
    rows = list(result.get("rows", ()))
    result = {**result, "rows": rows}
    metrics, subjects = metric_names(result), subject_names(result)
    judges = list(dict.fromkeys(j for row in rows for j in row.get("judgments", {})))
    # Judges have summaries (and charts) like metrics, but their own columns.
    scores = [name for name in metrics if name not in judges]
    style, script = _asset(_STYLE), _asset(_SCRIPT)
    ci_label = confidence_label(result)

    cases = [_case(i, row, scores, judges) for i, row in enumerate(rows)]
    charts = build_charts(result.get("metrics", ()), metrics, subjects, ci_label)
    template = _environment().get_template(_TEMPLATE)

    return template.render(
        experiment=str(result.get("experiment", "")),
        run_id=str(result.get("run_id", "")),
        status=str(result.get("status", "")),
        ci_label=ci_label,
        stages=result.get("stages", {}),
        charts=charts,
        comparisons=result.get("comparisons", ()),
        agreement=result.get("agreement", ()),
        metrics=scores,
        judges=judges,
        cases=cases,
        failed_count=sum(1 for case in cases if case.failures),
        data=jsonable(result),
        style=Markup(style),
        script=Markup(script),
        policy=_content_security_policy(style, script),
    )


def _case(
    index: int, row: Mapping[str, Any], metrics: Sequence[str], judges: Sequence[str]
) -> CaseView:
    scores = row.get("scores", {})
    judgments = row.get("judgments", {})
    cells = [
        (
            Cell(number(scores[m]), not score_passed(scores[m]))
            if m in scores
            else Cell("", False)
        )
        for m in metrics
    ]

    return CaseView(
        index=index,
        case_id=str(row.get("case_id", "")),
        subject=str(row.get("subject", "")),
        failures=failures(row),
        scores=cells,
        judge_scores=[_judge_score(judgments.get(j)) for j in judges],
        inputs=pretty(row.get("inputs", {})),
        prompt=pretty(row.get("prompt")),
        candidates=[pretty(c) for c in row.get("candidates") or ()],
        reduced=pretty(row.get("reduced")),
        parsed=pretty(row.get("parsed")),
        parsed_cell="" if row.get("parsed") is None else pretty(row.get("parsed")),
        parse_error=str(row.get("parse_error") or ""),
        judgments=[_judgment(name, j) for name, j in judgments.items()],
        errors=list(row.get("errors") or ()),
    )


def _judgment(name: str, judgment: Mapping[str, Any]) -> JudgmentView:
    return JudgmentView(
        judge=name,
        score=_judge_score(judgment),
        verdict=str(judgment.get("verdict") or ""),
        reasoning=str(judgment.get("reasoning") or ""),
        prompt=pretty(judgment.get("prompt")),
        raw=pretty(judgment.get("raw")),
        error=str(judgment.get("error") or ""),
    )


def _judge_score(judgment: Mapping[str, Any] | None) -> str:
    if judgment is None:
        return ""
    score = judgment.get("score")
    if score is None:
        return MISSING

    return f"{score:g}" if isinstance(score, int | float) else str(score)


def pretty(value: Any) -> str:
    """Return an artifact as display text: strings as they are, else JSON."""
    if isinstance(value, str):
        return value

    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, default=str)


@functools.cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("evalspec.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(number=number, interval=interval, p_value=p_value)
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}

    return environment


@functools.cache
def _asset(name: str) -> str:
    return (files("evalspec.reports") / "templates" / name).read_text("utf-8")


def _content_security_policy(style: str, script: str) -> str:
    """Return a policy that blocks every load but this page's style and script."""
    return (
        f"default-src 'none'; style-src {_digest(style)}; "
        f"script-src {_digest(script)}; img-src data:"
    )


def _digest(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()

    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
