"""Per-case stage keys: a spec edit re-runs exactly the work downstream of it.

Each test compiles a spec, writes its runner, runs the runner's pipeline
against a SQLite store, edits the spec, and runs the new runner against the
same store file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalspec._runners import load_runner
from evalspec.compiler import compile_text
from evalspec.runtime.stores import SQLiteStore

SPEC = """\
experiment keys { seed 3 }

dataset qa {
CASES
}

model alpha { use noisy_oracle  error_rate 0.2 }
model beta { use noisy_oracle  error_rate 0.4 }
model grader { use reference_grader }

prompt ask "Q: {{ question }}"

generate { model MODELS  prompt ask  samples 2 }
reduce majority_vote
parse last_number
score exact_match { expected answer }

judge correct {
  model grader
  rubric "Is the final number the reference?"
  reference answer
}
"""


def spec(cases: int = 4, models: str = "alpha") -> str:
    lines = [
        f'  case c{i} {{ question "{i} + {i}"  answer "{2 * i}" }}'
        for i in range(cases)
    ]

    return SPEC.replace("CASES", "\n".join(lines)).replace("MODELS", models)


class Runs:
    """Run successive versions of a spec against one SQLite store file."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store_path = tmp_path / "store.db"
        self.version = 0

    def run(self, text: str) -> dict[str, dict[str, int]]:
        self.version += 1
        out = self.tmp_path / f"v{self.version}"
        runner = compile_text(text, str(self.tmp_path / "keys.evalspec")).write(out)
        pipeline = load_runner(runner).PIPELINE
        store = SQLiteStore(self.store_path)
        try:
            result = pipeline.run(store)
        finally:
            store.close()
        assert result.status == "completed"
        stages: dict[str, Any] = result.summary()["stages"]

        return stages


def executed(stages: dict[str, dict[str, int]]) -> dict[str, int]:
    return {stage: counts["executed"] for stage, counts in stages.items()}


def test_adding_cases_generates_only_the_new_cases(tmp_path: Path) -> None:
    """Adding 3 cases to 5 generates 3 cases x 2 samples; the rest is reused."""
    runs = Runs(tmp_path)
    runs.run(spec(cases=5))
    stages = runs.run(spec(cases=8))

    assert executed(stages) == {
        "generate": 6,
        "reduce": 3,
        "parse": 3,
        "score": 3,
        "judge": 3,
    }
    assert stages["generate"]["reused"] == 10


def test_changing_parser_reparses_and_calls_no_model(tmp_path: Path) -> None:
    """A new parser re-runs parse, score and judge; generate executes nothing."""
    runs = Runs(tmp_path)
    runs.run(spec())
    stages = runs.run(spec().replace("parse last_number", "parse first_number"))
    counts = executed(stages)

    assert counts["generate"] == 0
    assert stages["generate"]["reused"] == 8
    assert (counts["parse"], counts["score"], counts["judge"]) == (4, 4, 4)


def test_changing_judge_rubric_rejudges_only(tmp_path: Path) -> None:
    """A new rubric re-runs the judge stage and nothing upstream of it."""
    runs = Runs(tmp_path)
    runs.run(spec())
    edited = spec().replace("Is the final number", "Is the last number")
    stages = runs.run(edited)

    assert executed(stages) == {
        "generate": 0,
        "reduce": 0,
        "parse": 0,
        "score": 0,
        "judge": 4,
    }


def test_changing_one_model_reruns_only_its_subject(tmp_path: Path) -> None:
    """In a 2-model matrix, editing one model re-runs that subject alone."""
    runs = Runs(tmp_path)
    runs.run(spec(models="[alpha, beta]"))
    edited = spec(models="[alpha, beta]").replace("error_rate 0.4", "error_rate 0.5")
    stages = runs.run(edited)

    assert executed(stages) == {
        "generate": 8,
        "reduce": 4,
        "parse": 4,
        "score": 4,
        "judge": 4,
    }
    assert {stage: counts["reused"] for stage, counts in stages.items()} == {
        "generate": 8,
        "reduce": 4,
        "parse": 4,
        "score": 4,
        "judge": 4,
    }


def test_unchanged_spec_reuses_every_work_item(tmp_path: Path) -> None:
    """Running the same spec again executes nothing: every item is stored."""
    runs = Runs(tmp_path)
    runs.run(spec())
    stages = runs.run(spec())

    assert set(executed(stages).values()) == {0}
