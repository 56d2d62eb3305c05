"""A custom metric for `custom_metric.evalspec`: partial credit for near misses."""

from __future__ import annotations

from typing import Any


def within_ten_percent(parsed: Any, case: dict[str, Any]) -> float:
    """Score 1.0 for the exact answer, 0.5 within ten percent, else 0.0."""
    expected = float(case["answer"])
    answer = float(parsed)
    if answer == expected:
        return 1.0

    return 0.5 if abs(answer - expected) <= 0.1 * abs(expected) else 0.0
