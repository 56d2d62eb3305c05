"""Tests of the HTML report in a real headless Chromium.

They need Playwright's Python package and a Chromium at /usr/bin/chromium
(Debian's ``chromium`` package); Playwright's own browser download is not used.
Set ``EVALSPEC_UPDATE_SCREENSHOT=1`` to refresh ``docs/report.png``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_result import METRICS

from evalspec.reports import render
from evalspec.reports._format import failures

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).parents[2] / "docs" / "report.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def report(result: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render(result, "html"), encoding="utf-8")

    return path


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Any]:
    """Open the report; `page.problems` lists console errors and network requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.problems = problems = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(message.text)

    def on_request(request: Any) -> None:
        if not request.url.startswith("file://"):
            problems.append(f"request to {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", on_request)
    page.goto(report.as_uri())
    yield page
    page.close()


def test_report_loads_without_errors_or_requests(page: Any) -> None:
    """The page runs its script cleanly and fetches nothing from the network."""
    assert page.locator("#case-count").inner_text().endswith("shown")
    assert page.problems == []


def test_report_draws_one_chart_per_metric(page: Any) -> None:
    charts = page.locator("svg[data-metric]")

    assert charts.count() == len(METRICS)
    assert [charts.nth(i).get_attribute("data-metric") for i in range(2)] == list(
        METRICS
    )
    assert page.locator("svg[data-metric] rect").count() == 2 * len(METRICS)


def test_failures_filter_shows_only_failed_cases(
    page: Any, result: dict[str, Any]
) -> None:
    rows = page.locator("tr.case")
    failed = sum(1 for row in result["rows"] if failures(row))

    page.locator("#failures-only").check()

    visible = [rows.nth(i) for i in range(rows.count()) if rows.nth(i).is_visible()]
    assert len(visible) == failed
    assert {row.get_attribute("data-failed") for row in visible} == {"true"}
    assert page.locator("#case-count").inner_text() == f"{failed} of 24 shown"

    page.locator("#failures-only").uncheck()

    assert page.locator("tr.case:visible").count() == len(result["rows"])
    assert page.problems == []


def test_expanding_a_case_shows_its_judge_reasoning(
    page: Any, result: dict[str, Any]
) -> None:
    row = result["rows"][3]
    reasoning = row["judgments"]["correctness"]["reasoning"].strip()
    artifacts = page.locator("#case-3")

    assert not artifacts.is_visible()

    page.locator("tr.case").nth(3).click()

    assert artifacts.is_visible()
    assert artifacts.locator(".reasoning").inner_text().strip() == reasoning
    assert artifacts.get_by_text("Answer with the number only.").first.is_visible()

    page.locator("tr.case").nth(3).locator("button.toggle").press("Enter")

    assert not artifacts.is_visible()
    assert page.problems == []


def test_screenshot_shows_the_whole_report(page: Any, tmp_path: Path) -> None:
    """A full-page screenshot with a case open is a tall page, not a blank one.

    With EVALSPEC_UPDATE_SCREENSHOT=1 it also refreshes docs/report.png.
    """
    page.locator("#failures-only").check()
    page.locator("tr.case[data-failed=true]").first.click()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)

    data = shot.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert width >= 800 and height > width
    assert len(data) > 50_000
    if os.environ.get("EVALSPEC_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.write_bytes(data)
