"""Diffing snapshots: which identity fields differ, and which stages re-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalspec.compiler import (
    compile_text,
    diff_snapshots,
    format_differences,
    load_snapshot,
)
from evalspec.errors import UsageError

SPEC = """\
experiment d { seed 1 }
dataset qa { case c1 { question "2+2"  answer "4" } }
model alpha { use noisy_oracle  error_rate 0.1 }
model beta { use noisy_oracle  error_rate 0.2 }
model grader { use reference_grader }
prompt ask "Q: {{ question }}"
generate { model [alpha, beta]  prompt ask  samples 2 }
reduce majority_vote
parse last_number
score exact_match { expected answer }
judge correct { model grader  rubric "Right?" }
"""

ALL = ["generate", "reduce", "parse", "score", "judge"]


def diff(old: str, new: str) -> list[dict[str, object]]:
    a = compile_text(SPEC, "a.evalspec").snapshot
    b = compile_text(SPEC.replace(old, new), "b.evalspec").snapshot

    return [d.to_json() for d in diff_snapshots(a, b)]


def test_same_identity_has_no_differences() -> None:
    """Formatting and paths are not differences."""
    assert diff("samples 2 }", "samples 2\n}") == []


@pytest.mark.parametrize(
    ("old", "new", "path", "stages"),
    [
        ("seed 1", "seed 2", "seed", ALL),
        ("samples 2", "samples 4", "samples", ALL),
        ('answer "4"', 'answer "5"', "datasets[qa].fingerprint", ALL),
        ("majority_vote", "first", "reduce.id", ALL[1:]),
        ("last_number", "first_number", "parse.id", ALL[2:]),
        ("exact_match", "contains", "scores[exact_match]", ["score"]),
        ('"Right?"', '"Correct?"', "judges[correct].judge.params.rubric", ["judge"]),
        (
            "error_rate 0.2",
            "error_rate 0.3",
            "subjects[beta/ask].model.params.error_rate",
            ALL,
        ),
    ],
)
def test_difference_names_field_and_invalidated_stages(
    old: str, new: str, path: str, stages: list[str]
) -> None:
    """Each changed field is reported with the stages whose work it makes stale."""
    differences = diff(old, new)
    paths = [d["path"] for d in differences]

    assert path in paths or any(p.startswith(path) for p in paths), paths
    assert all(d["invalidates"] == stages for d in differences)


def test_changed_leaf_reports_old_and_new_values() -> None:
    """A changed parameter carries its old and new values."""
    (difference,) = diff("error_rate 0.2", "error_rate 0.3")

    assert difference == {
        "path": "subjects[beta/ask].model.params.error_rate",
        "old": 0.2,
        "new": 0.3,
        "invalidates": ALL,
    }


def test_replaced_metric_is_one_removed_and_one_added_item() -> None:
    """A metric with a new id has no counterpart: removed, then added."""
    differences = diff("exact_match", "contains")

    assert [(d["path"], d["old"] is None, d["new"] is None) for d in differences] == [
        ("scores[exact_match]", False, True),
        ("scores[contains]", True, False),
    ]


def test_load_snapshot_reads_specs_and_snapshot_json(tmp_path: Path) -> None:
    """A spec path compiles; a snapshot JSON path loads; both agree on run_id."""
    spec = tmp_path / "d.evalspec"
    spec.write_text(SPEC)
    compiled = compile_text(SPEC, str(spec))
    compiled.write(tmp_path / "out")
    from_json = load_snapshot(tmp_path / "out" / "d.snapshot.json")

    assert load_snapshot(spec).run_id == from_json.run_id == compiled.run_id
    assert diff_snapshots(from_json, load_snapshot(spec)) == []


def test_load_snapshot_rejects_json_that_is_not_a_snapshot(tmp_path: Path) -> None:
    """Any other JSON is a usage error naming what to pass instead."""
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))

    with pytest.raises(UsageError, match="is not a snapshot"):
        load_snapshot(other)


def test_format_differences_lists_one_line_per_field() -> None:
    """The readable form has a line per field, with the stages it re-runs."""
    a = compile_text(SPEC, "a.evalspec").snapshot
    b = compile_text(SPEC.replace("seed 1", "seed 2"), "b.evalspec").snapshot

    assert format_differences(diff_snapshots(a, b)) == (
        "seed: 1 -> 2  (re-runs generate, reduce, parse, score, judge)\n"
    )
    assert format_differences([]).startswith("no differences")
