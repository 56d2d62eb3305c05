"""Golden diagnostics: each `NAME.evalspec` beside the `NAME.expected` it renders.

Set EVALSPEC_UPDATE_GOLDEN=1 to rewrite the expected files from the current
output, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalspec.compiler import compile_file
from evalspec.errors import SpecError

HERE = Path(__file__).parent / "diagnostics"
SPECS = sorted(HERE.glob("*.evalspec"))
UPDATE = os.environ.get("EVALSPEC_UPDATE_GOLDEN") == "1"


def render(name: str) -> str:
    """Return the diagnostics of compiling `name`, a path relative to the cwd."""
    with pytest.raises(SpecError) as caught:
        compile_file(name)

    return caught.value.render(color=False) + "\n"


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_diagnostics_match_golden_file(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec's rendered diagnostics equal its `.expected` file, byte for byte."""
    monkeypatch.chdir(HERE)
    actual = render(spec.name)
    expected_path = spec.with_suffix(".expected")
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8")


def test_golden_folder_covers_at_least_twelve_kinds() -> None:
    """Every golden spec has an expected file, and there are a dozen or more."""
    assert len(SPECS) >= 12
    assert all(spec.with_suffix(".expected").is_file() for spec in SPECS)


RUNNERS = sorted((Path(__file__).parent / "runners").glob("*.evalspec"))


@pytest.mark.parametrize("spec", RUNNERS, ids=[p.stem for p in RUNNERS])
def test_runner_matches_golden_file(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec's emitted runner equals its `.runner.py` file, byte for byte."""
    monkeypatch.chdir(spec.parent)
    compiled = compile_file(spec.name)
    actual = compiled.runner(spec.parent)
    expected_path = spec.with_suffix(".runner.py")
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8")
