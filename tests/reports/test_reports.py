"""Tests for the report formats rendered from a run's result JSON."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from sample_result import INJECTION, METRICS, SUBJECTS

import evalspec.reports
from evalspec.errors import UsageError
from evalspec.reports import FORMATS, render
from evalspec.reports._format import failures, jsonable
from evalspec.reports._svg import build_charts


class _Elements(HTMLParser):
    """Collect every start tag's attributes and the embedded result JSON."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data_island = ""
        self._in_data_island = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_data_island = ("id", "result-data") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._in_data_island = False

    def handle_data(self, data: str) -> None:
        if self._in_data_island:
            self.data_island += data

    def having(self, attribute: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.tags if attribute in attrs]


def _parse_html(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    parser.close()

    return parser


def test_all_is_sorted_and_exported() -> None:
    assert list(evalspec.reports.__all__) == sorted(evalspec.reports.__all__)
    for name in evalspec.reports.__all__:
        assert hasattr(evalspec.reports, name)


def test_formats_are_the_five_documented() -> None:
    assert set(FORMATS) == {"table", "json", "csv", "md", "html"}


def test_render_unknown_format_names_the_choices(result: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match=r"Unknown report format 'xml'.*csv"):
        render(result, "xml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_does_not_change_the_result(result: dict[str, Any], fmt: str) -> None:
    before = copy.deepcopy(result)

    render(result, fmt)

    assert result == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_minimal_result_without_rows_or_comparisons(fmt: str) -> None:
    """A result with only identity, status and no work renders in every format."""
    minimal = {"run_id": "abc", "experiment": "empty", "status": "failed"}

    assert "empty" in render(minimal, fmt) or fmt == "csv"


def test_table_lists_every_summary_with_its_interval(result: dict[str, Any]) -> None:
    text = render(result, "table")

    for summary in result["metrics"]:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(summary["subject"] + " ")
            and f" {summary['metric']} " in line
        )
        assert f"{summary['mean']:.3f}" in line
        assert f"[{summary['ci_low']:.3f}, {summary['ci_high']:.3f}]" in line
        assert line.split()[-2:] == [str(summary["n"]), summary["method"]]


def test_table_aligns_columns_without_color_codes(result: dict[str, Any]) -> None:
    text = render(result, "table")
    lines = text.splitlines()
    header = lines.index("metrics") + 1
    rule = lines[header + 1]

    assert "\x1b" not in text
    assert "95% CI" in lines[header]
    assert set(rule) == {"-", " "}
    # Every column starts where its rule starts.
    starts = [m.start() for m in re.finditer(r"-+", rule)]
    for line in lines[header : header + 2 + len(result["metrics"])]:
        assert all(line[s - 1] == " " for s in starts[1:])


def test_table_shows_stage_counts_last(result: dict[str, Any]) -> None:
    lines = render(result, "table").splitlines()
    stages = lines[lines.index("stages") + 3 :]

    assert [line.split() for line in stages] == [
        [stage, str(c["executed"]), str(c["reused"]), str(c["failed"])]
        for stage, c in result["stages"].items()
    ]


def test_table_labels_the_result_confidence(result: dict[str, Any]) -> None:
    result["confidence"] = 0.9

    assert "90% CI" in render(result, "table")


def test_table_shows_missing_numbers_as_na() -> None:
    summary = {"subject": "s", "metric": "m", "mean": None, "n": 0, "method": "none"}
    minimal = {"run_id": "r", "experiment": "e", "status": "failed"}

    text = render({**minimal, "metrics": [summary]}, "table")

    rows = [line.split() for line in text.splitlines()]
    assert ["s", "m", "n/a", "n/a", "0", "none"] in rows


def test_md_renders_github_tables(result: dict[str, Any]) -> None:
    text = render(result, "md")
    tables = [line for line in text.splitlines() if line.startswith("|")]

    assert text.startswith("# arithmetic\n")
    assert "| subject | metric | mean | 95% CI | n | method |" in tables
    assert "| --- | --- | ---: | --- | ---: | --- |" in tables
    # Metrics, comparisons and stages: a header and rule each, then the rows.
    assert len(tables) == 6 + len(result["metrics"]) + len(result["comparisons"]) + len(
        result["stages"]
    )


def test_md_escapes_cell_breaking_and_markup_characters(
    result: dict[str, Any],
) -> None:
    result["metrics"][0]["subject"] = "a|b <i>*x*</i> _y_ [z](http://e)"

    text = render(result, "md")

    assert r"a\|b \<i>\*x\*\</i> \_y\_ \[z](http://e)" in text
    assert "exact_match" in text


def test_csv_parses_back_to_the_summaries(result: dict[str, Any]) -> None:
    text = render(result, "csv")
    records = list(csv.DictReader(io.StringIO(text)))

    assert text.splitlines()[0].startswith("run_id,experiment,subject,metric,mean")
    assert len(records) == len(result["metrics"])
    for record, summary in zip(records, result["metrics"], strict=True):
        assert record["run_id"] == result["run_id"]
        assert (record["subject"], record["metric"]) == (
            summary["subject"],
            summary["metric"],
        )
        for key in ("mean", "stderr", "ci_low", "ci_high"):
            assert float(record[key]) == summary[key]
        assert int(record["n"]) == summary["n"]


def test_csv_writes_missing_numbers_as_empty_fields() -> None:
    summary = {"subject": "s", "metric": "m", "mean": math.nan, "n": 0}
    minimal = {"run_id": "r", "experiment": "e", "status": "failed"}

    (record,) = csv.DictReader(
        io.StringIO(render({**minimal, "metrics": [summary]}, "csv"))
    )

    assert record["mean"] == record["ci_low"] == ""
    assert record["method"] == ""


def test_json_is_the_result_with_sorted_keys(result: dict[str, Any]) -> None:
    text = render(result, "json")

    assert json.loads(text) == result
    assert (
        text == json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_json_writes_nan_as_null(result: dict[str, Any]) -> None:
    result["metrics"][0]["mean"] = math.nan

    assert json.loads(render(result, "json"))["metrics"][0]["mean"] is None


def test_html_has_one_chart_per_metric(result: dict[str, Any]) -> None:
    elements = _parse_html(render(result, "html"))
    charts = [attrs for tag, attrs in elements.tags if tag == "svg"]
    bars = elements.having("data-subject")

    assert [chart["data-metric"] for chart in charts] == list(METRICS)
    assert [bar["data-subject"] for bar in bars] == list(SUBJECTS) * len(METRICS)


def test_html_marks_each_case_row_failed_or_not(result: dict[str, Any]) -> None:
    elements = _parse_html(render(result, "html"))
    marked = [attrs["data-failed"] for attrs in elements.having("data-failed")]

    assert marked == ["true" if failures(row) else "false" for row in result["rows"]]
    assert marked.count("true") == 6


def test_html_escapes_case_text(result: dict[str, Any]) -> None:
    text = render(result, "html")

    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in text
    assert "<b>" not in text
    # Only the data island and the page's script close a script element.
    assert text.count("</script>") == 2


def test_html_escapes_attribute_values(result: dict[str, Any]) -> None:
    for summary in result["metrics"]:
        summary["metric"] = 'm" onload="alert(1)'
    for row in result["rows"]:
        row["scores"] = {'m" onload="alert(1)': 1.0}

    elements = _parse_html(render(result, "html"))

    assert not elements.having("onload")
    assert elements.having("data-metric")[0]["data-metric"] == 'm" onload="alert(1)'


def test_html_embeds_the_result_as_json(result: dict[str, Any]) -> None:
    result["metrics"][0]["stderr"] = math.nan

    elements = _parse_html(render(result, "html"))

    assert json.loads(elements.data_island) == jsonable(result)
    assert INJECTION in elements.data_island.encode().decode("unicode_escape")


def test_html_is_self_contained(result: dict[str, Any]) -> None:
    text = render(result, "html")
    elements = _parse_html(text)
    sources = [
        value
        for _, attrs in elements.tags
        for key, value in attrs.items()
        if key in {"src", "href"} and value is not None
    ]

    assert sources == ["data:,"]
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text
    (policy,) = elements.having("http-equiv")
    assert str(policy["content"]).startswith("default-src 'none';")


def test_html_title_names_experiment_and_run(result: dict[str, Any]) -> None:
    text = render(result, "html")

    assert "<title>arithmetic · 9f3c2a7be41d</title>" in text


def test_html_shows_every_stage_artifact(result: dict[str, Any]) -> None:
    row = result["rows"][2]
    judgment = row["judgments"]["correctness"]

    text = render(result, "html")

    assert row["prompt"].splitlines()[0] in text
    assert f"<li><pre>{row['candidates'][0]}</pre></li>" in text
    assert judgment["reasoning"].replace("'", "&#39;") in text
    assert "request timed out after 30 s" in text
    assert "no number in the text" in text


def test_chart_axis_spans_scores_beyond_one() -> None:
    """A 1-5 scale gets a 0-5 axis; every bar and whisker stays on the plot."""
    summaries = [
        {
            "subject": "a",
            "metric": "rating",
            "mean": 3.2,
            "ci_low": 2.7,
            "ci_high": 3.6,
        },
        {
            "subject": "b",
            "metric": "rating",
            "mean": 4.1,
            "ci_low": 3.5,
            "ci_high": 4.6,
        },
    ]

    (chart,) = build_charts(summaries, ["rating"], ["a", "b"], "95% CI")

    assert [tick.label for tick in chart.ticks] == ["0", "1", "2", "3", "4", "5"]
    for bar in chart.bars:
        assert bar.x == chart.zero
        assert bar.whisker is not None
        assert chart.plot_left <= bar.whisker[0] < bar.whisker[1] <= chart.plot_right


def test_chart_bar_of_negative_mean_extends_left_of_zero() -> None:
    summaries = [{"subject": "a", "metric": "m", "mean": -0.4, "n": 3}]

    (chart,) = build_charts(summaries, ["m"], ["a"], "95% CI")
    (bar,) = chart.bars

    assert bar.x is not None and bar.width is not None
    assert bar.x < chart.zero == round(bar.x + bar.width, 1)
    assert bar.whisker is None
    assert bar.label == "-0.400"


def test_reports_show_judge_agreement() -> None:
    """Judge agreement, when a result has it, appears in text and HTML reports."""
    result = {
        "run_id": "r1",
        "experiment": "e",
        "status": "completed",
        "stages": {},
        "metrics": [],
        "agreement": [
            {
                "subject": "m/p",
                "judges": ["strict", "lenient"],
                "n": 9,
                "agreement": 0.889,
                "kappa": 0.7,
            }
        ],
        "rows": [],
    }

    table = render(result, "table")
    html = render(result, "html")

    assert "judge agreement" in table and "strict / lenient" in table
    assert 'id="agreement"' in html and "strict / lenient" in html
