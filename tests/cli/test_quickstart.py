"""The quickstart through the `evalspec` command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The `evalspec` fixture: runs the command line in a directory.
Evalspec = Callable[..., subprocess.CompletedProcess[str]]


def test_run_quickstart_json_prints_one_contract_object(
    evalspec: Evalspec, project: Path
) -> None:
    """`evalspec run --json` prints exactly the documented JSON object."""
    done = evalspec("run", "specs/quickstart.evalspec", "--json", cwd=project)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result["run_id"], str) and result["run_id"]
    assert result["status"] == "completed"
    stages = ("generate", "reduce", "parse", "score", "judge")
    assert set(result["stages"]) == set(stages)
    assert result["stages"]["generate"] == {"executed": 60, "reused": 0, "failed": 0}
    for stage in stages[1:]:
        assert result["stages"][stage]["executed"] == 20
    metrics = {row["metric"]: row for row in result["metrics"]}
    assert set(metrics) == {"exact_match", "correctness"}
    for row in result["metrics"]:
        assert row["subject"] == "solver/ask"
        assert row["n"] == 20
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert 0.5 <= metrics["exact_match"]["mean"] < 1.0
    assert (project / ".evalspec" / "store.db").is_file()


def test_run_quickstart_twice_reuses_every_work_item(
    evalspec: Evalspec, project: Path
) -> None:
    """A second run against the same SQLite store executes nothing."""
    first = evalspec("run", "specs/quickstart.evalspec", "--json", cwd=project)
    second = evalspec("run", "specs/quickstart.evalspec", "--json", cwd=project)

    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert all(counts["executed"] == 0 for counts in two["stages"].values())
    assert two["stages"]["generate"]["reused"] == 60
    assert two["metrics"] == one["metrics"]
    assert two["run_id"] == one["run_id"]


def test_run_quickstart_prints_table_per_subject(
    evalspec: Evalspec, project: Path
) -> None:
    """Without --json the run prints a readable table naming subject and metrics."""
    done = evalspec(
        "run", "specs/quickstart.evalspec", "--store", "memory", cwd=project
    )

    assert done.returncode == 0, done.stderr
    assert "solver/ask" in done.stdout
    assert "exact_match" in done.stdout and "correctness" in done.stdout
    assert not (project / ".evalspec" / "store.db").exists()


def test_standalone_runner_matches_evalspec_run(
    evalspec: Evalspec, project: Path
) -> None:
    """The compiled runner, run by plain Python, prints the same metrics."""
    out = project / "build"
    compiled = evalspec(
        "compile", "specs/quickstart.evalspec", "-o", str(out), cwd=project
    )
    assert compiled.returncode == 0, compiled.stderr
    run_id = compiled.stdout.strip()
    assert (out / "quickstart.py").is_file()
    snapshot = json.loads((out / "quickstart.snapshot.json").read_text())
    assert snapshot["run_id"] == run_id

    standalone = subprocess.run(
        [sys.executable, str(out / "quickstart.py"), "--store", "a.db", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    via_cli = evalspec(
        "run", "specs/quickstart.evalspec", "--store", "b.db", "--json", cwd=project
    )

    assert standalone.returncode == 0, standalone.stderr
    one, two = json.loads(standalone.stdout), json.loads(via_cli.stdout)
    assert one["run_id"] == two["run_id"] == run_id
    assert one["metrics"] == two["metrics"]
    assert one["stages"] == two["stages"]


def test_standalone_runner_imports_no_compiler(
    evalspec: Evalspec, project: Path
) -> None:
    """Running an emitted runner never imports evalspec's compiler or grammar."""
    out = project / "build"
    evalspec("compile", "specs/quickstart.evalspec", "-o", str(out), cwd=project)
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['quickstart.py', '--store', 'memory', '--json']\n"
        "try:\n"
        f"    runpy.run_path({str(out / 'quickstart.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.startswith(('evalspec.compiler',"
        " 'evalspec.grammar', 'lark', 'black'))]\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=project, capture_output=True, text=True
    )

    assert "LOADED []" in done.stderr, done.stderr


def test_run_id_ignores_formatting_and_store(evalspec: Evalspec, project: Path) -> None:
    """Reformatting the spec or changing --store leaves run_id unchanged."""
    spec = project / "specs" / "quickstart.evalspec"
    original = json.loads(
        evalspec("run", str(spec), "--store", "memory", "--json", cwd=project).stdout
    )["run_id"]
    text = spec.read_text()
    reformatted = "# a comment added on top\n" + text.replace("\n\n", "\n\n\n")
    reformatted = reformatted.replace("samples 3", "samples   3  # three")
    spec.write_text(reformatted)

    again = json.loads(
        evalspec("run", str(spec), "--store", "other.db", "--json", cwd=project).stdout
    )["run_id"]

    assert again == original


@pytest.mark.parametrize(
    ("old", "new"), [("seed 7", "seed 8"), ("samples 3", "samples 5")]
)
def test_run_id_changes_with_seed_and_samples(
    evalspec: Evalspec, project: Path, old: str, new: str
) -> None:
    """Changing the seed or the sample count gives a new run_id."""
    spec = project / "specs" / "quickstart.evalspec"
    before = evalspec("compile", str(spec), "-o", "a", cwd=project).stdout.strip()
    spec.write_text(spec.read_text().replace(old, new))
    after = evalspec("compile", str(spec), "-o", "b", cwd=project).stdout.strip()

    assert before and after and before != after


def test_check_syntax_error_prints_located_diagnostic(
    evalspec: Evalspec, tmp_path: Path
) -> None:
    """A syntax error prints path:line:col, the source line and a caret; exit 1."""
    spec = tmp_path / "broken.evalspec"
    spec.write_text("experiment demo {\n  seed = 7\n}\n")

    done = evalspec("check", "broken.evalspec", cwd=tmp_path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("broken.evalspec:2:8: error: ")
    assert "  seed = 7" in done.stderr
    assert "^" in done.stderr


def test_check_unknown_name_suggests_the_close_one(
    evalspec: Evalspec, project: Path
) -> None:
    """An unknown reducer id is reported at its line with a suggestion."""
    spec = project / "specs" / "quickstart.evalspec"
    spec.write_text(
        spec.read_text().replace("reduce majority_vote", "reduce majorty_vote")
    )

    done = evalspec("check", "specs/quickstart.evalspec", cwd=project)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    line = spec.read_text().splitlines().index("reduce majorty_vote") + 1
    assert done.stderr.startswith(f"specs/quickstart.evalspec:{line}:8: error: ")
    assert "unknown reducer `majorty_vote`" in done.stderr
    assert "help: did you mean `majority_vote`?" in done.stderr


def test_check_clean_spec_prints_nothing(evalspec: Evalspec, project: Path) -> None:
    """`evalspec check` on a good spec prints nothing and exits 0."""
    done = evalspec("check", "specs/quickstart.evalspec", cwd=project)

    assert done.returncode == 0
    assert done.stdout == "" and done.stderr == ""


def test_usage_error_exits_two(evalspec: Evalspec, project: Path) -> None:
    """A wrong command line is a usage error: exit status 2."""
    done = evalspec("run", cwd=project)

    assert done.returncode == 2
