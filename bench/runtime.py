"""Measure the runtime against a bare asyncio loop over the same components.

`python bench/runtime.py --json` prints one JSON object:

| key | what | target |
| --- | --- | --- |
| `overhead_memory` | evalspec / baseline time, all five stages, memory store | ≤ 10 |
| `overhead_sqlite` | the same on a fresh SQLite store | ≤ 20 |
| `concurrency_efficiency` | ideal / evalspec time, 20 ms model, 64 wide | ≥ 0.9 |
| `rejudge_model_calls` | generation-model calls made by a rejudge | 0 |
| `memory_growth` | peak RSS at 10× the cases / at the cases (SQLite) | ≤ 1.5 |

The baseline calls the very component objects of the emitted runner (the
noisy oracle, majority vote, last number, exact match, the rubric judge and
its reference grader) in a plain loop, in the same process. Peak RSS is
measured in a fresh subprocess per size, so one measurement cannot inflate
the other. Without `--json` the same numbers print as a table; `--quick`
shrinks every size tenfold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from evalspec._runners import load_runner
from evalspec.compiler import compile_file
from evalspec.runtime import MemoryStore, Runtime, SQLiteStore
from evalspec.runtime.components.base import (
    Completion,
    JudgeInput,
    Message,
    ReduceInput,
    Request,
    ScoreInput,
)
from evalspec.runtime.components.models import NoisyOracle

TARGETS = {
    "overhead_memory": ("<=", 10.0),
    "overhead_sqlite": ("<=", 20.0),
    "concurrency_efficiency": (">=", 0.9),
    "rejudge_model_calls": ("<=", 0),
    "memory_growth": ("<=", 1.5),
}

SPEC = """
experiment bench {{ seed 7 }}

dataset items {{
  from "{data}"
  id id
}}

model solver {{
  use noisy_oracle
  error_rate 0.2
  delay {delay}
}}

model grader {{ use reference_grader }}

prompt ask \"\"\"
  Answer with the number only.
  Question: {{{{ question }}}}
\"\"\"

generate {{ model solver  prompt ask }}
reduce majority_vote
parse last_number
score exact_match {{ expected answer }}

judge correctness {{
  model grader
  rubric \"\"\"Is the final answer the same number as the reference?\"\"\"
  scale 1 to 5
  reference answer
}}
"""


def write_dataset(directory: Path, cases: int) -> Path:
    """Write `cases` arithmetic questions as JSONL into `directory`."""
    path = directory / f"items-{cases}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(cases):
            a, b = n % 97, n // 97
            record = {"id": n, "question": f"{a} + {b}", "answer": str(a + b)}
            out.write(json.dumps(record) + "\n")

    return path


def build_runner(directory: Path, cases: int, delay: float = 0.0) -> ModuleType:
    """Compile the benchmark spec over `cases` cases and import its runner."""
    data = write_dataset(directory, cases)
    name = f"bench-{cases}-{int(delay * 1000)}"
    spec = directory / f"{name}.evalspec"
    spec.write_text(SPEC.format(data=data.name, delay=delay), encoding="utf-8")
    runner = compile_file(spec).write(directory / name)

    return load_runner(runner)


# -- the baseline ----------------------------------------------------------------


async def baseline(runner: ModuleType) -> float:
    """Return the seconds a bare loop takes over the runner's cases and components."""
    model, grader = runner.MODEL_SOLVER, runner.MODEL_GRADER
    reducer, parser, metric = runner.REDUCE, runner.PARSE, runner.SCORE[0]
    judge = runner.JUDGE[0].judge
    path = runner.DATASETS[0].path
    started = time.perf_counter()
    with open(path, encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines]
    for case in cases:
        prompt = f"Answer with the number only.\nQuestion: {case['question']}"
        request = Request(messages=(Message("user", prompt),), case=case, seed=7)
        text = (await model.complete(request)).text
        reduced = reducer.reduce(ReduceInput([text], case, parser.parse))
        parsed = parser.parse(reduced)
        metric.score(ScoreInput(parsed, reduced, [text], case))
        ask = judge.render(JudgeInput(reduced, parsed, case, prompt))
        extra = {
            **judge.request_extra(),
            "response": reduced,
            "reference": case["answer"],
        }
        verdict = await grader.complete(
            Request(messages=(Message("user", ask),), case=case, extra=extra)
        )
        judge.read(verdict.text)

    return time.perf_counter() - started


# -- measurements ----------------------------------------------------------------


def timed_run(runner: ModuleType, store: Any, runtime: Runtime | None = None) -> float:
    """Return the seconds the runner's pipeline takes against `store`."""
    started = time.perf_counter()
    result = runner.PIPELINE.run(store, runtime=runtime)
    elapsed = time.perf_counter() - started
    if result.status != "completed":
        raise SystemExit(f"benchmark run ended {result.status}: {result.stages}")

    return elapsed


def rejudge_calls(runner: ModuleType, store: Any) -> int:
    """Return the generation-model calls a rejudge of the stored run makes."""
    calls = 0
    complete = NoisyOracle.complete

    async def counting(self: NoisyOracle, request: Request) -> Completion:
        nonlocal calls
        calls += 1
        return await complete(self, request)

    NoisyOracle.complete = counting  # type: ignore[method-assign,assignment]
    try:
        runner.PIPELINE.with_cutoff("judge").run(store)
    finally:
        NoisyOracle.complete = complete  # type: ignore[method-assign]

    return calls


def peak_rss(directory: Path, cases: int) -> int:
    """Return the peak RSS in KiB of a fresh process running `cases` on SQLite."""
    command = [sys.executable, __file__, "--rss", str(cases), "--dir", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)

    return int(done.stdout.strip().splitlines()[-1])


def rss_child(directory: Path, cases: int) -> None:
    """Run `cases` cases on a fresh SQLite store and print the peak RSS in KiB."""
    runner = build_runner(directory, cases)
    with SQLiteStore(directory / f"rss-{cases}.db") as store:
        timed_run(runner, store)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(quick: bool) -> dict[str, Any]:
    """Run every measurement; return the ratios and the raw timings."""
    cases = 1_000 if quick else 10_000
    slow_cases = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="evalspec-bench-") as temp:
        directory = Path(temp)
        # Linux keeps a process's peak RSS across fork and exec, so the
        # children are measured while this process is still small.
        small = peak_rss(directory, cases)
        large = peak_rss(directory, cases * 10)

        runner = build_runner(directory, cases)
        base = min(asyncio.run(baseline(runner)) for _ in range(3))
        memory_store = MemoryStore()
        memory = timed_run(runner, memory_store)
        with SQLiteStore(directory / "bench.db") as sqlite_store:
            sqlite = timed_run(runner, sqlite_store)
        calls = rejudge_calls(runner, memory_store)

        slow = build_runner(directory, slow_cases, delay=0.02)
        wide = Runtime(concurrency=64)
        concurrent = timed_run(slow, MemoryStore(), wide)
        ideal = slow_cases * 0.02 / 64

    return {
        "overhead_memory": round(memory / base, 2),
        "overhead_sqlite": round(sqlite / base, 2),
        "concurrency_efficiency": round(ideal / concurrent, 3),
        "rejudge_model_calls": calls,
        "memory_growth": round(large / small, 3),
        "cases": cases,
        "seconds": {
            "baseline": round(base, 4),
            "memory": round(memory, 4),
            "sqlite": round(sqlite, 4),
            "concurrent": round(concurrent, 4),
            "concurrent_ideal": round(ideal, 4),
        },
        "peak_rss_kib": {str(cases): small, str(cases * 10): large},
    }


def table(results: dict[str, Any]) -> str:
    """Return `results` as a readable table with each target and its verdict."""
    lines = [f"{'measure':<24}{'value':>10}  {'target':<8}ok"]
    for key, (op, target) in TARGETS.items():
        value = results[key]
        ok = value <= target if op == "<=" else value >= target
        lines.append(f"{key:<24}{value:>10}  {op} {target:<5}{'yes' if ok else 'NO'}")
    lines.append("")
    for name, seconds in results["seconds"].items():
        lines.append(f"{name + ' seconds':<24}{seconds:>10}")
    for size, kib in results["peak_rss_kib"].items():
        lines.append(f"{'peak RSS ' + size:<24}{kib / 1024:>9.1f}M")

    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print JSON or a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="ten times fewer cases")
    parser.add_argument("--rss", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss is not None:
        rss_child(args.dir, args.rss)
        return 0
    results = measure(args.quick)
    print(json.dumps(results) if args.json else table(results))

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
