"""Replay and rejudge: later stages execute afresh from stored upstream work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from evalspec._runners import load_runner
from evalspec.compiler import compile_file
from evalspec.errors import MissingArtifactsError, UsageError
from evalspec.runtime import MemoryStore, SQLiteStore

CASES = 8

MODELS = '''
calls = {"solver": 0}


async def solver(prompt):
    """Answer the number at the end of the prompt, counting calls."""
    calls["solver"] += 1
    return "The answer is " + prompt.split()[-1]
'''

SPEC = """
experiment replayed { seed 2 }
dataset items { from "items.jsonl"  id id }
model solver { use python "models_replay:solver" }
model grader { use reference_grader }
prompt ask \"\"\"Say {{ n }}\"\"\"
generate { model solver  prompt ask  samples 2 }
reduce majority_vote
parse last_number
score exact_match { expected n }
judge correct {
  model grader
  rubric \"\"\"Is it the reference number?\"\"\"
  reference n
}
"""


@pytest.fixture
def runner_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Return a compiled runner whose generate model counts its calls."""
    (tmp_path / "models_replay.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("models_replay", None)
    with open(tmp_path / "items.jsonl", "w", encoding="utf-8") as out:
        for n in range(CASES):
            out.write(json.dumps({"id": n, "n": str(n)}) + "\n")
    spec = tmp_path / "replayed.evalspec"
    spec.write_text(SPEC)

    yield compile_file(spec).write(tmp_path / "runner")
    sys.modules.pop("models_replay", None)


@pytest.fixture
def runner(runner_path: Path) -> ModuleType:
    return load_runner(runner_path)


def solver_calls() -> int:
    calls: int = sys.modules["models_replay"].calls["solver"]
    return calls


@pytest.mark.anyio
async def test_rejudge_executes_judge_afresh_without_calling_model(
    runner: ModuleType,
) -> None:
    """A judge replay reuses everything upstream and keeps the old judgment."""
    store = MemoryStore()
    pipeline = runner.PIPELINE
    await pipeline.run_async(store)
    assert solver_calls() == CASES * 2

    result = await pipeline.with_cutoff("judge").run_async(store)

    assert solver_calls() == CASES * 2
    assert result.cutoff == "judge"
    assert result.stages["generate"] == {"executed": 0, "reused": 16, "failed": 0}
    assert result.stages["score"] == {"executed": 0, "reused": CASES, "failed": 0}
    assert result.stages["judge"] == {"executed": CASES, "reused": 0, "failed": 0}
    unit = next(pipeline.units())
    assert [a.attempt for a in store.history(unit.keys.judge["correct"])] == [1, 2]
    assert len(store.history(unit.keys.score["exact_match"])) == 1


@pytest.mark.anyio
async def test_replay_from_parse_reexecutes_parse_and_later(runner: ModuleType) -> None:
    """Replaying from parse re-runs parse, score and judge; reduce is loaded."""
    store = MemoryStore()
    pipeline = runner.PIPELINE
    first = await pipeline.run_async(store)

    result = await pipeline.with_cutoff("parse").run_async(store)

    assert solver_calls() == CASES * 2
    assert result.stages["reduce"]["executed"] == 0
    for stage in ("parse", "score", "judge"):
        assert result.stages[stage]["executed"] == CASES
    unit = next(pipeline.units())
    assert len(store.history(unit.keys.reduce)) == 1
    assert len(store.history(unit.keys.parse)) == 2
    assert result.metrics == first.metrics


@pytest.mark.anyio
async def test_replay_missing_generation_names_stage_count_and_command(
    runner: ModuleType, tmp_path: Path
) -> None:
    """Without stored generations a replay refuses, saying what is missing."""
    store = SQLiteStore(tmp_path / "empty.db")
    with store, pytest.raises(MissingArtifactsError) as caught:
        await runner.PIPELINE.with_cutoff("judge").run_async(store)

    message = str(caught.value)
    assert "`generate`" in message
    assert f"{CASES * 2} of {CASES * 2}" in message
    assert "evalspec run" in message
    assert solver_calls() == 0


@pytest.mark.anyio
async def test_replay_on_new_memory_store_explains_process_scope(
    runner: ModuleType,
) -> None:
    """A memory store made after the run cannot replay it, and says why."""
    await runner.PIPELINE.run_async(MemoryStore())

    with pytest.raises(MissingArtifactsError, match="same store object"):
        await runner.PIPELINE.with_cutoff("score").run_async(MemoryStore())


def test_with_cutoff_rejects_generate(runner: ModuleType) -> None:
    """Generate cannot be a cutoff: there is nothing upstream to load."""
    with pytest.raises(UsageError, match="reduce, parse, score, judge"):
        runner.PIPELINE.with_cutoff("generate")


def test_runner_stage_option_rejudges_stored_sqlite_run(
    runner_path: Path, tmp_path: Path
) -> None:
    """`runner.py --stage judge` in a new process rejudges the stored run."""
    store = tmp_path / "store.db"
    base = [sys.executable, str(runner_path), "--store", str(store), "--json"]
    subprocess.run(base, check=True, capture_output=True, timeout=60)

    done = subprocess.run(
        [*base, "--stage", "judge"], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cutoff"] == "judge"
    assert summary["stages"]["generate"]["executed"] == 0
    assert summary["stages"]["judge"]["executed"] == CASES
    with SQLiteStore(store) as opened:
        runs = opened.runs()
        assert [r.cutoff for r in runs] == ["judge", None]
        assert [r.status for r in runs] == ["completed", "completed"]
