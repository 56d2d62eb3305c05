"""Every Python example in docs/API.md runs as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = re.findall(
    r"```python\n(.*?)```", (ROOT / "docs" / "API.md").read_text(), re.DOTALL
)


@pytest.mark.parametrize(
    "code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))]
)
def test_api_doc_example_runs(code: str, tmp_path: Path) -> None:
    """The example exits cleanly from a copy of the repository's specs."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert done.returncode == 0, done.stderr


def test_api_doc_has_examples() -> None:
    """The API reference shows at least one example per lifecycle entry point."""
    text = "\n".join(EXAMPLES)

    for name in (
        "evaluate(",
        "evaluate_async(",
        "from_config(",
        ".compile()",
        ".run()",
        ".rejudge()",
        "load(",
    ):
        assert name in text, name
