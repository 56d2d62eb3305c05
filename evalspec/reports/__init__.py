"""Render a run's result as a table, JSON, CSV, Markdown or a standalone HTML page.

Every renderer reads the runtime's result JSON as a plain mapping: ``run_id``,
``experiment``, ``status``, per-stage counts under ``stages``, metric
summaries under ``metrics``, paired comparisons under ``comparisons`` and the
per-case ``rows``. An optional ``confidence`` (default 0.95) labels the
intervals. Keys a renderer does not know are ignored, and only ``json`` shows
them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evalspec.errors import UsageError
from evalspec.reports._html import render_html
from evalspec.reports._text import render_csv, render_json, render_md, render_table

__all__ = ["FORMATS", "render"]

_RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "md": render_md,
    "html": render_html,
}

#: The report formats `render` accepts.
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def render(result: Mapping[str, Any], fmt: str) -> str:
    """Return `result` rendered in the report format `fmt`."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        choices = ", ".join(FORMATS)
        msg = f"Unknown report format {fmt!r}; use one of: {choices}."
        raise UsageError(msg)

    return renderer(result)
