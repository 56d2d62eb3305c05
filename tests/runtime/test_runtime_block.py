"""The spec's runtime block: caps per stage and per provider take effect."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from evalspec import Experiment

MODULE = """
import anyio

calls = {"now": 0, "most": 0}


async def slow(prompt):
    calls["now"] += 1
    calls["most"] = max(calls["most"], calls["now"])
    await anyio.sleep(0.005)
    calls["now"] -= 1
    return prompt
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """Return a spec whose model counts its calls in flight."""
    name = f"inflight_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    cases = "\n".join(f'  case c{n} {{ input "{n}" }}' for n in range(30))
    path = tmp_path / "caps.evalspec"
    path.write_text(textwrap.dedent(f"""\
            dataset d {{
            {cases}
            }}
            model m {{ use python "{name}:slow" }}
            prompt p "{{{{ input }}}}"
            generate {{ model m  prompt p  samples 2 }}
            score exact_match {{ expected input }}
            """).replace("\n  case", "\ncase"))
    return path


def most_in_flight(spec: Path, runtime: str) -> int:
    """Run `spec` with `runtime` appended; return the most calls in flight."""
    spec.write_text(spec.read_text() + runtime)
    experiment = Experiment.from_config(spec, store="memory")
    result = experiment.run()
    assert result.status == "completed"
    module = next(m for n, m in sys.modules.items() if n.startswith("inflight_"))
    most = module.calls["most"]
    del sys.modules[module.__name__]

    return int(most)


def test_runtime_block_caps_calls_per_stage(spec: Path) -> None:
    """`stages { generate: 3 }` keeps at most three generate calls in flight."""
    assert (
        most_in_flight(spec, "runtime { concurrency 16  stages { generate: 3 } }\n")
        == 3
    )


def test_runtime_block_caps_calls_per_provider(spec: Path) -> None:
    """`providers { python: 2 }` keeps at most two calls to that provider."""
    assert (
        most_in_flight(spec, "runtime { concurrency 16  providers { python: 2 } }\n")
        == 2
    )


def test_runtime_block_leaves_run_id_alone(spec: Path) -> None:
    """Caps shape execution only: the run_id does not change."""
    before = Experiment.from_config(spec).run_id
    spec.write_text(
        spec.read_text() + "runtime { concurrency 4  stages { judge: 1 } }\n"
    )

    assert Experiment.from_config(spec).run_id == before
