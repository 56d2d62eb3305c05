"""Third-party components through entry points, and prompts as sandboxed data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jinja2
import pytest

from evalspec.runtime.stages import Prompt

PLUGIN = '''
"""A third-party metric shipped by another package."""

from typing import ClassVar

from evalspec.runtime.components.base import Kind, Metric, Params


class ShoutParams(Params):
    expected: str = "expected"


class Shout(Metric):
    """Score 1 when the answer is the expected text in capitals."""

    kind: ClassVar[Kind] = "metric"
    id: ClassVar[str] = "shout_match"
    Params = ShoutParams

    def score(self, item):
        return float(str(item.parsed) == str(item.case[self.params.expected]).upper())
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """Return a directory holding an installed-looking plugin distribution."""
    (tmp_path / "shout_plugin.py").write_text(PLUGIN)
    info = tmp_path / "shout_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[evalspec.components]\nshout = shout_plugin:Shout\n"
    )
    return tmp_path


def run(
    args: list[str], cwd: Path, extra_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run the evalspec command line with `extra_path` importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(extra_path), os.getcwd()])}
    return subprocess.run(
        [sys.executable, "-m", "evalspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_entry_point_component_is_listed_and_usable(
    plugin_path: Path, tmp_path: Path
) -> None:
    """A metric registered through `evalspec.components` is listed and scores."""
    listed = run(["components", "--json"], tmp_path, plugin_path)
    assert listed.returncode == 0, listed.stderr
    assert "shout_match" in {entry["id"] for entry in json.loads(listed.stdout)}

    spec = tmp_path / "plugin.evalspec"
    spec.write_text(textwrap.dedent("""\
            dataset words {
              case w1 { input "hello"  expected "hello" }
            }
            model loud { use python "loud:shout" }
            prompt say "{{ input }}"
            generate { model loud  prompt say }
            score shout_match
            """))
    (tmp_path / "loud.py").write_text("def shout(prompt):\n    return prompt.upper()\n")
    done = run(["run", str(spec), "--store", "memory", "--json"], tmp_path, plugin_path)

    assert done.returncode == 0, done.stderr
    (metric,) = json.loads(done.stdout)["metrics"]
    assert metric["metric"] == "shout_match" and metric["mean"] == 1.0


def test_prompt_inserts_case_values_verbatim() -> None:
    """A case value holding template syntax is data, never rendered."""
    prompt = Prompt([("user", "Q: {{ question }}")])
    tricky = "{{ 7 * 7 }} {% for x in y %}{{ x }}{% endfor %} {# c #}"

    (message,) = prompt.render({"question": tricky})

    assert message.content == f"Q: {tricky}"


def test_prompt_strict_undefined_raises() -> None:
    """A placeholder no case field fills raises instead of rendering empty."""
    prompt = Prompt([("user", "Q: {{ missing }}")])

    with pytest.raises(jinja2.UndefinedError):
        prompt.render({"question": "x"})


def test_prompt_sandbox_refuses_attribute_escape() -> None:
    """Templates run sandboxed: reaching into Python internals is refused."""
    prompt = Prompt([("user", "{{ ''.__class__.__mro__[1].__subclasses__() }}")])

    with pytest.raises(jinja2.exceptions.SecurityError):
        prompt.render({})


def test_compile_flags_placeholder_missing_from_dataset(tmp_path: Path) -> None:
    """A placeholder naming no dataset field is a compile-time diagnostic."""
    spec = tmp_path / "typo.evalspec"
    spec.write_text(textwrap.dedent("""\
            dataset qa {
              case c1 { question "2+2"  answer "4" }
            }
            model m { use echo }
            prompt ask "Q: {{ questoin }}"
            generate { model m  prompt ask }
            score exact_match { expected answer }
            """))

    done = run(["check", str(spec)], tmp_path, tmp_path)

    assert done.returncode == 1
    assert "questoin" in done.stderr
    assert "did you mean `question`?" in done.stderr
