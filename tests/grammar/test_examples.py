"""Every example spec in `specs/` compiles, is formatted, and runs offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalspec.compiler import compile_file
from evalspec.grammar.formatter import format_spec

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = sorted((ROOT / "specs").glob("*.evalspec"))
ALL = sorted((ROOT / "specs").rglob("*.evalspec"))


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT / "specs")) for p in paths]


def test_there_are_at_least_seven_runnable_examples() -> None:
    """The quickstart and six more examples ship with the project."""
    assert len(RUNNABLE) >= 7


@pytest.mark.parametrize("spec", RUNNABLE, ids=ids(RUNNABLE))
def test_example_compiles(spec: Path) -> None:
    """An example spec compiles without a diagnostic."""
    compiled = compile_file(spec)
    assert compiled.run_id


@pytest.mark.parametrize("spec", ALL, ids=ids(ALL))
def test_example_is_already_formatted(spec: Path) -> None:
    """`evalspec fmt --check` would accept every example, included files too."""
    text = spec.read_text(encoding="utf-8")
    assert format_spec(text, str(spec)) == text


@pytest.mark.parametrize("spec", RUNNABLE, ids=ids(RUNNABLE))
def test_example_runs_offline_to_completion(spec: Path) -> None:
    """`evalspec run SPEC --store memory --json` completes with builtin models."""
    command = [sys.executable, "-m", "evalspec", "run", str(spec)]
    result = subprocess.run(
        [*command, "--store", "memory", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
