"""The inspection and replay commands, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The `evalspec` fixture: runs the command line in a directory.
Evalspec = Callable[..., subprocess.CompletedProcess[str]]
QUICKSTART = "specs/quickstart.evalspec"
MATRIX = "specs/matrix.evalspec"


def as_json(done: subprocess.CompletedProcess[str]) -> dict:
    """Return the one JSON object a --json command printed."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_plan_counts_stored_and_pending_work(evalspec: Evalspec, project: Path) -> None:
    """`plan` says what would execute before and after a run, and model calls."""
    before = as_json(evalspec("plan", QUICKSTART, "--json", cwd=project))
    evalspec("run", QUICKSTART, "--json", cwd=project)
    after = as_json(evalspec("plan", QUICKSTART, "--json", cwd=project))

    assert before["stages"]["generate"] == {"total": 60, "stored": 0, "execute": 60}
    assert before["models"]["solver"]["calls"] == 60
    assert before["models"]["solver"]["prompt_tokens"] > 0
    assert after["stages"]["generate"] == {"total": 60, "stored": 60, "execute": 0}
    assert all(stage["execute"] == 0 for stage in after["stages"].values())


def test_replay_from_parse_executes_downstream_only(
    evalspec: Evalspec, project: Path
) -> None:
    """`replay --stage parse` re-runs parse, score and judge from stored work."""
    evalspec("run", QUICKSTART, "--json", cwd=project)

    result = as_json(
        evalspec("replay", QUICKSTART, "--stage", "parse", "--json", cwd=project)
    )

    assert result["cutoff"] == "parse"
    assert result["stages"]["generate"] == {"executed": 0, "reused": 60, "failed": 0}
    assert result["stages"]["reduce"]["reused"] == 20
    for stage in ("parse", "score", "judge"):
        assert result["stages"][stage]["executed"] == 20


def test_rejudge_without_stored_run_names_missing_stage(
    evalspec: Evalspec, project: Path
) -> None:
    """A rejudge against an empty store says what is missing and how to make it."""
    done = evalspec("rejudge", QUICKSTART, "--json", cwd=project)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "`generate` artifacts are missing" in done.stderr
    assert "evalspec run specs/quickstart.evalspec" in done.stderr


def test_rejudge_executes_judge_only(evalspec: Evalspec, project: Path) -> None:
    """`rejudge` executes the judge stage and reuses everything before it."""
    evalspec("run", QUICKSTART, "--json", cwd=project)

    result = as_json(evalspec("rejudge", QUICKSTART, "--json", cwd=project))

    assert result["stages"]["judge"]["executed"] == 20
    assert sum(s["executed"] for s in result["stages"].values()) == 20


def test_runs_and_show_follow_a_case(evalspec: Evalspec, project: Path) -> None:
    """`runs` lists the run; `show --case` prints that case through every stage."""
    run = as_json(evalspec("run", QUICKSTART, "--json", cwd=project))

    runs = as_json(evalspec("runs", "--json", cwd=project))["runs"]
    shown = evalspec("show", run["run_id"][:6], "--case", "q01", cwd=project)

    assert [r["run_id"] for r in runs] == [run["run_id"]]
    assert runs[0]["status"] == "completed"
    assert shown.returncode == 0, shown.stderr
    for part in ("case q01", "generate · prompt", "candidate 2", "parse", "judge"):
        assert part in shown.stdout


def test_show_unknown_case_is_a_clear_error(evalspec: Evalspec, project: Path) -> None:
    """Asking for a case the run does not have lists some that it does."""
    evalspec("run", QUICKSTART, "--json", cwd=project)

    done = evalspec("show", QUICKSTART, "--case", "nope", cwd=project)

    assert done.returncode == 1
    assert "no case `nope`" in done.stderr and "q01" in done.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md", "html"])
def test_report_renders_every_format(
    evalspec: Evalspec, project: Path, fmt: str
) -> None:
    """`report` renders a stored run in each format."""
    evalspec("run", QUICKSTART, "--json", cwd=project)
    out = project / f"report.{fmt}"

    done = evalspec("report", QUICKSTART, "--format", fmt, "-o", str(out), cwd=project)

    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "exact_match" in text
    if fmt == "json":
        assert len(json.loads(text)["rows"]) == 20
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {row["metric"] for row in rows} == {"exact_match", "correctness"}
    if fmt == "html":
        assert text.lstrip().lower().startswith("<!doctype html>")
        assert "http://" not in text and "https://" not in text


def test_compare_matrix_against_chosen_baseline(
    evalspec: Evalspec, project: Path
) -> None:
    """`compare --baseline` pairs every other subject with the chosen one."""
    evalspec("run", MATRIX, "--json", cwd=project)

    result = as_json(
        evalspec("compare", MATRIX, "--baseline", "hasty/terse", "--json", cwd=project)
    )

    rows = result["comparisons"]
    assert {row["baseline"] for row in rows} == {"hasty/terse"}
    assert {row["subject"] for row in rows} == {
        "careful/terse",
        "careful/stepwise",
        "hasty/stepwise",
    }
    assert all(0.0 <= row["p_value"] <= 1.0 for row in rows)


def test_fmt_check_reports_and_fmt_fixes(evalspec: Evalspec, project: Path) -> None:
    """`fmt --check` exits 1 with a diff; `fmt` rewrites; then --check passes."""
    spec = project / "messy.evalspec"
    spec.write_text('experiment messy {seed 1\n      description "x"}\n')

    check = evalspec("fmt", "--check", str(spec), cwd=project)
    evalspec("fmt", str(spec), cwd=project)
    again = evalspec("fmt", "--check", str(spec), cwd=project)

    assert check.returncode == 1 and "+  seed 1" in check.stdout
    assert spec.read_text() == 'experiment messy {\n  seed 1\n  description "x"\n}\n'
    assert again.returncode == 0


def test_every_example_spec_is_formatted(evalspec: Evalspec, project: Path) -> None:
    """Every spec under specs/ passes `fmt --check` and `check`."""
    specs = sorted(
        str(p.relative_to(project)) for p in project.glob("specs/*.evalspec")
    )

    assert evalspec("fmt", "--check", *specs, cwd=project).returncode == 0
    for spec in specs:
        assert evalspec("check", spec, cwd=project).returncode == 0, spec


def test_diff_names_changed_fields_and_stages(
    evalspec: Evalspec, project: Path
) -> None:
    """`diff` lists identity fields that differ and the stages they re-run."""
    changed = project / "specs" / "changed.evalspec"
    text = (project / QUICKSTART).read_text()
    changed.write_text(text.replace("parse last_number", "parse first_number"))

    result = as_json(evalspec("diff", QUICKSTART, str(changed), "--json", cwd=project))

    (difference,) = result["differences"]
    assert difference["path"].startswith("parse")
    assert difference["invalidates"] == ["parse", "score", "judge"]
    assert result["a"] != result["b"]


def test_check_json_lists_diagnostics(evalspec: Evalspec, project: Path) -> None:
    """`check --json` prints diagnostics as objects with position and help."""
    spec = project / "specs" / "quickstart.evalspec"
    spec.write_text(spec.read_text().replace("parse last_number", "parse lst_number"))

    done = evalspec("check", QUICKSTART, "--json", cwd=project)

    assert done.returncode == 1
    (diagnostic,) = json.loads(done.stdout)
    assert diagnostic["file"] == "specs/quickstart.evalspec"
    assert diagnostic["severity"] == "error"
    assert "lst_number" in diagnostic["message"]
    assert diagnostic["help"] == "did you mean `last_number`?"
    assert {"line", "column", "end"} <= set(diagnostic)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.evalspec"], "missing.evalspec: error: cannot read spec"),
        (["compile", QUICKSTART, "-o", "/proc/none/out"], "error: cannot use"),
        (["run", QUICKSTART, "--store", "/proc/none/s.db"], "error: cannot use"),
        (["report", "0123456789abcdef"], "no run `0123456789abcdef`"),
    ],
)
def test_bad_input_is_an_error_not_a_traceback(
    evalspec: Evalspec, project: Path, args: list[str], message: str
) -> None:
    """Missing files, unwritable paths and unknown runs are one-line errors."""
    done = evalspec(*args, cwd=project)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert message in done.stderr


def test_non_positive_concurrency_is_a_usage_error(
    evalspec: Evalspec, project: Path
) -> None:
    """`--concurrency 0` is refused by the command line with status 2."""
    done = evalspec("run", QUICKSTART, "--concurrency", "0", cwd=project)

    assert done.returncode == 2
    assert "must be positive" in done.stderr
