"""Execution: pipelining, limits, retries and failures, through compiled runners."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from evalspec._runners import load_runner
from evalspec.compiler import compile_file
from evalspec.runtime import MemoryStore, Runtime
from evalspec.runtime.limits import ProviderLimit

Build = Callable[..., ModuleType]

MODELS = '''
import anyio

from evalspec.errors import ProviderError

state = {"calls": 0, "active": 0, "peak": 0, "flaky": {}}


async def tracked(prompt):
    """Answer the question's number, counting calls in flight at once."""
    state["calls"] += 1
    state["active"] += 1
    state["peak"] = max(state["peak"], state["active"])
    await anyio.sleep(0.01)
    state["active"] -= 1
    return "The answer is " + prompt.split()[-1]


async def flaky(prompt):
    """Fail once with a 503 per prompt, then answer."""
    seen = state["flaky"].get(prompt, 0)
    state["flaky"][prompt] = seen + 1
    if seen == 0:
        raise ProviderError("busy", category="server", retryable=True, status=503)
    return "The answer is " + prompt.split()[-1]


async def picky(prompt):
    """Refuse (a 400, not retryable) every question about 3."""
    if prompt.endswith(" 3"):
        raise ProviderError("bad request", category="client", retryable=False)
    return "The answer is " + prompt.split()[-1]
'''

SPEC = """
experiment exec {{ seed 1 }}
dataset items {{ from "items.jsonl"  id id }}
model solver {{ {model} }}
prompt ask \"\"\"Give the number {{{{ n }}}}\"\"\"
generate {{ model solver  prompt ask  samples {samples} }}
reduce majority_vote
parse last_number
score exact_match {{ expected n }}
"""


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Build]:
    """Return a function compiling a spec over `cases` cases; import its runner."""
    (tmp_path / "models_exec.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("models_exec", None)

    def build(model: str, cases: int = 6, samples: int = 1) -> ModuleType:
        with open(tmp_path / "items.jsonl", "w", encoding="utf-8") as out:
            for n in range(cases):
                out.write(json.dumps({"id": n, "n": str(n)}) + "\n")
        spec = tmp_path / "exec.evalspec"
        spec.write_text(SPEC.format(model=model, samples=samples))
        name = f"out-{abs(hash((model, cases, samples)))}"
        return load_runner(compile_file(spec).write(tmp_path / name))

    yield build
    sys.modules.pop("models_exec", None)


def state() -> dict[str, object]:
    module: dict[str, object] = sys.modules["models_exec"].state
    return module


@pytest.mark.anyio
async def test_run_global_concurrency_caps_calls_in_flight(build: Build) -> None:
    """No more model calls run at once than the run's concurrency."""
    runner = build('use python "models_exec:tracked"', cases=12)

    result = await runner.PIPELINE.run_async(
        MemoryStore(), runtime=Runtime(concurrency=3)
    )

    assert result.status == "completed"
    assert state()["calls"] == 12
    assert state()["peak"] == 3


@pytest.mark.anyio
async def test_run_provider_limit_caps_samples_of_one_case(build: Build) -> None:
    """A per-provider cap holds even when one case's samples run side by side."""
    runner = build('use python "models_exec:tracked"', cases=4, samples=4)
    runtime = Runtime(concurrency=4, providers={"python": ProviderLimit(concurrency=2)})

    await runner.PIPELINE.run_async(MemoryStore(), runtime=runtime)

    assert state()["calls"] == 16
    assert state()["peak"] == 2


@pytest.mark.anyio
async def test_run_stage_limit_caps_generate_calls(build: Build) -> None:
    """A per-stage cap limits that stage's calls below the global concurrency."""
    runner = build('use python "models_exec:tracked"', cases=8)
    runtime = Runtime(concurrency=8, stage_concurrency={"generate": 1})

    await runner.PIPELINE.run_async(MemoryStore(), runtime=runtime)

    assert state()["peak"] == 1


@pytest.mark.anyio
async def test_run_retried_call_records_retries_on_artifact(build: Build) -> None:
    """A retryable failure is retried, and the artifact's meta lists the retry."""
    runner = build('use python "models_exec:flaky"', cases=2)
    store = MemoryStore()
    pipeline = runner.PIPELINE

    result = await pipeline.run_async(store)

    assert result.status == "completed"
    assert result.stages["generate"] == {"executed": 2, "reused": 0, "failed": 0}
    unit = next(pipeline.units())
    [artifact] = store.history(unit.keys.generate[0])
    [retry] = artifact.meta["retries"]
    assert retry["attempt"] == 1
    assert retry["reason"].startswith("server: busy")
    assert retry["delay"] >= 0


@pytest.mark.anyio
async def test_run_client_error_fails_item_and_run_is_partial(build: Build) -> None:
    """A 400 is not retried: its item is stored failed, the other cases go on."""
    runner = build('use python "models_exec:picky"', cases=6)
    store = MemoryStore()

    result = await runner.PIPELINE.run_async(store)

    assert result.status == "partial"
    assert result.stages["generate"] == {"executed": 5, "reused": 0, "failed": 1}
    assert result.stages["score"]["executed"] == 5
    [failed] = [row for row in result.rows() if row["errors"]]
    assert failed["case_id"] == "3"
    assert failed["errors"][0]["category"] == "client"
    failing = [u for u in runner.PIPELINE.units() if u.case.id == "3"][0]
    [artifact] = store.history(failing.keys.generate[0])
    assert artifact.status == "failed"
    assert artifact.error is not None and artifact.error["category"] == "client"


@pytest.mark.anyio
async def test_run_failed_item_executes_again_on_next_run(build: Build) -> None:
    """A stored failure is not reused: the next run tries that item again."""
    runner = build('use python "models_exec:picky"', cases=4)
    store = MemoryStore()
    await runner.PIPELINE.run_async(store)

    result = await runner.PIPELINE.run_async(store)

    assert result.stages["generate"] == {"executed": 0, "reused": 3, "failed": 1}


@pytest.mark.anyio
async def test_run_pipelines_each_case_through_its_stages(build: Build) -> None:
    """A case is reduced and scored before every case has been generated."""
    runner = build("use noisy_oracle  answer_field n  delay 0.01", cases=20)
    store = MemoryStore()
    pipeline = runner.PIPELINE

    await pipeline.run_async(store, runtime=Runtime(concurrency=2))

    units = list(pipeline.units())
    first_score = min(
        store.history(u.keys.score["exact_match"])[0].created for u in units
    )
    last_generate = max(store.history(u.keys.generate[0])[0].created for u in units)
    assert first_score < last_generate


@pytest.mark.anyio
async def test_run_rate_limit_spaces_call_starts(build: Build) -> None:
    """A provider rate of 600 a minute starts at most about ten calls a second."""
    runner = build("use noisy_oracle  answer_field n", cases=4)
    runtime = Runtime(rate=600)

    started = time.perf_counter()
    await runner.PIPELINE.run_async(MemoryStore(), runtime=runtime)
    elapsed = time.perf_counter() - started

    # The bucket starts with one token, so three calls wait 0.1 s each.
    assert elapsed >= 0.29
