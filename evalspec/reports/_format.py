"""What every report format shares: number formatting, ordering, failures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

MISSING = "n/a"


def number(value: Any, digits: int = 3) -> str:
    """Return `value` with `digits` decimals, or "n/a" when there is none."""
    if not _is_number(value):
        return MISSING

    return f"{value:.{digits}f}"


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """Return a confidence interval as ``[low, high]``, or "n/a"."""
    if not (_is_number(low) and _is_number(high)):
        return MISSING

    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def p_value(value: Any) -> str:
    """Return a p-value with three decimals, or ``<0.001`` below that."""
    if not _is_number(value):
        return MISSING
    if value < 0.001:
        return "<0.001"

    return f"{value:.3f}"


def confidence_label(result: Mapping[str, Any]) -> str:
    """Return the intervals' heading, such as ``95% CI``."""
    confidence = result.get("confidence", 0.95)

    return f"{confidence * 100:g}% CI"


def metric_names(result: Mapping[str, Any]) -> list[str]:
    """Return every metric, summaries' order first, then any only in rows."""
    names = [str(m["metric"]) for m in result.get("metrics", ())]
    for row in result.get("rows", ()):
        names.extend(row.get("scores", {}))

    return _unique(names)


def subject_names(result: Mapping[str, Any]) -> list[str]:
    """Return every subject, summaries' order first, then any only in rows."""
    names = [str(m["subject"]) for m in result.get("metrics", ())]
    names.extend(str(row["subject"]) for row in result.get("rows", ()))

    return _unique(names)


def failures(row: Mapping[str, Any]) -> list[str]:
    """Return why a case failed: scores below 1, parse or stage errors.

    A missing or non-numeric score counts as below 1, and a judge that
    reported an error fails the case too. Each error reads as its stage and
    category. An empty list means the case passed.
    """
    reasons = [
        f"{metric} < 1"
        for metric, score in row.get("scores", {}).items()
        if not score_passed(score)
    ]
    if row.get("parse_error"):
        reasons.append("parse error")
    reasons.extend(
        f"judge {name} error"
        for name, judgment in row.get("judgments", {}).items()
        if judgment.get("error")
    )
    for error in row.get("errors") or ():
        where = f"{error.get('stage') or ''} {error.get('category') or ''}".strip()
        reasons.append(where or "error")

    return _unique(reasons)


def score_passed(score: Any) -> bool:
    """Return whether a score passes: a number of at least 1."""
    return _is_number(score) and score >= 1


def jsonable(value: Any) -> Any:
    """Return `value` with NaN and infinities as None, so JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]

    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
