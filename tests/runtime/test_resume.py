"""Resume and reuse: real runner processes killed, interrupted and run again."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalspec.compiler import compile_file

CASES = 60

SPEC = """
experiment resume { seed 5 }
dataset items { from "items.jsonl"  id id }
model solver { use noisy_oracle  error_rate 0.3  delay 0.05 }
model grader { use reference_grader }
prompt ask \"\"\"Question: {{ question }}\"\"\"
generate { model solver  prompt ask }
reduce majority_vote
parse last_number
score exact_match { expected answer }
judge correct {
  model grader
  rubric \"\"\"Is the final answer the reference number?\"\"\"
  reference answer
}
runtime { concurrency 2 }
"""


@pytest.fixture
def runner(tmp_path: Path) -> Path:
    """Return the path of a compiled runner whose model answers in 50 ms."""
    with open(tmp_path / "items.jsonl", "w", encoding="utf-8") as out:
        for n in range(CASES):
            record = {"id": n, "question": f"{n} + 2", "answer": str(n + 2)}
            out.write(json.dumps(record) + "\n")
    spec = tmp_path / "resume.evalspec"
    spec.write_text(SPEC)

    return compile_file(spec).write(tmp_path / "runner")


def start(runner: Path, store: Path) -> subprocess.Popen[str]:
    command = [sys.executable, str(runner), "--store", str(store), "--json"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(runner: Path, store: Path) -> dict[str, Any]:
    """Run `runner` to the end against `store`; return its JSON summary."""
    process = start(runner, store)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)

    return summary


def query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    """Return the rows of `sql` read from `store` without writing to it."""
    if not store.exists():
        return []
    conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        # The runner has not created the tables yet.
        return []
    finally:
        conn.close()


def wait_for(store: Path, sql: str, deadline: float = 30.0) -> None:
    """Poll `store` until `sql` returns a row with a true first column."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        rows = query(store, sql)
        if rows and rows[0][0]:
            return
        time.sleep(0.02)
    pytest.fail(f"the store never satisfied {sql!r}")


def stored_per_stage(store: Path) -> Counter[str]:
    return Counter(
        dict(query(store, "SELECT stage, COUNT(*) FROM artifacts GROUP BY stage"))
    )


def test_killed_run_resumes_without_repeating_stored_work(
    runner: Path, tmp_path: Path
) -> None:
    """SIGKILL part-way, run again: it completes, redoing no stored item."""
    store = tmp_path / "store.db"
    process = start(runner, store)
    wait_for(store, "SELECT COUNT(*) FROM artifacts")
    process.kill()
    process.wait(timeout=10)
    before = stored_per_stage(store)
    assert 0 < before["generate"] < CASES

    resumed = run(runner, store)

    assert resumed["status"] == "completed"
    for stage in ("generate", "reduce", "parse", "score", "judge"):
        counts = resumed["stages"][stage]
        assert counts["reused"] == before[stage]
        assert counts["executed"] == CASES - before[stage]
    attempts = query(
        store,
        "SELECT key, SUM(status = 'ok'), COUNT(*) FROM artifacts GROUP BY key",
    )
    assert len(attempts) == CASES * 5
    assert all(ok == 1 and total == 1 for _, ok, total in attempts)
    fresh = run(runner, tmp_path / "fresh.db")
    assert resumed["metrics"] == fresh["metrics"]


def test_second_run_of_unchanged_spec_executes_nothing(
    runner: Path, tmp_path: Path
) -> None:
    """Every work item of a finished run is reused by the next one."""
    store = tmp_path / "store.db"
    first = run(runner, store)

    second = run(runner, store)

    assert all(c["executed"] == 0 for c in second["stages"].values())
    assert second["stages"]["generate"]["reused"] == CASES
    assert second["metrics"] == first["metrics"]


def test_interrupted_run_exits_130_and_keeps_finished_work(
    runner: Path, tmp_path: Path
) -> None:
    """Ctrl-C stops the runner with status 130, stores its work, says how to go on."""
    store = tmp_path / "store.db"
    process = start(runner, store)
    wait_for(store, "SELECT COUNT(*) FROM runs")
    time.sleep(0.3)

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)

    assert process.returncode == 130
    assert out == ""
    assert "interrupted after" in err
    assert "Run the same command again" in err
    [(status, counts)] = query(store, "SELECT status, counts FROM runs")
    assert status == "interrupted"
    executed = {s: c["executed"] for s, c in json.loads(counts).items()}
    assert 0 < executed["generate"] < CASES
    assert stored_per_stage(store) == Counter({k: v for k, v in executed.items() if v})
