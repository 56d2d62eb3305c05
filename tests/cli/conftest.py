"""Fixtures for running the `evalspec` command line as a user does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

Evalspec = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a temporary directory holding a copy of the example specs."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


@pytest.fixture
def evalspec() -> Evalspec:
    """Return a function running `evalspec ARGS` in `cwd`, capturing output."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evalspec", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
