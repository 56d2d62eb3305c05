"""The pipeline: stage keys, prompts, plans and totals of compiled runners."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jinja2
import pytest

from evalspec._runners import load_runner
from evalspec.compiler import compile_file
from evalspec.runtime import MemoryStore, Prompt
from evalspec.runtime.pipeline import Unit

Build = Callable[..., ModuleType]

SPEC = """
experiment keyed {{ seed {seed} }}
dataset items {{ from "items.jsonl"  id id }}
model solver {{ use noisy_oracle  answer_field n }}
model grader {{ use reference_grader }}
prompt ask \"\"\"Say {{{{ n }}}}\"\"\"
generate {{ model solver  prompt ask  samples 3 }}
reduce {reduce}
parse {parse}
score exact_match {{ expected n }}
score contains {{ expected n }}
judge correct {{
  model grader
  rubric \"\"\"Is it the reference number?\"\"\"
  reference n
}}
"""


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """Return a function compiling the spec with `parse` and `seed` over `cases`."""

    def build(
        parse: str = "last_number",
        seed: int = 1,
        cases: int = 4,
        reduce: str = "majority_vote",
    ) -> ModuleType:
        with open(tmp_path / "items.jsonl", "w", encoding="utf-8") as out:
            for n in range(cases):
                out.write(json.dumps({"id": n, "n": str(n)}) + "\n")
        spec = tmp_path / "keyed.evalspec"
        spec.write_text(SPEC.format(parse=parse, seed=seed, reduce=reduce))
        name = f"runner-{parse}-{seed}-{cases}-{reduce}"
        return load_runner(compile_file(spec).write(tmp_path / name))

    return build


def first_unit(runner: ModuleType) -> Unit:
    unit: Unit = next(runner.PIPELINE.units())
    return unit


def test_keys_parser_change_keeps_generate_and_reduce(build: Build) -> None:
    """Changing the parser changes parse, score and judge keys, nothing upstream."""
    before = first_unit(build("last_number", reduce="first")).keys
    after = first_unit(build("first_number", reduce="first")).keys

    assert after.generate == before.generate
    assert after.reduce == before.reduce
    assert after.parse != before.parse
    assert set(after.score.values()).isdisjoint(before.score.values())
    assert after.judge != before.judge


def test_keys_parser_change_reduces_again_when_votes_are_parsed(build: Build) -> None:
    """A majority vote over parsed answers depends on the parser: reduce again."""
    before = first_unit(build("last_number")).keys
    after = first_unit(build("first_number")).keys

    assert after.generate == before.generate
    assert after.reduce != before.reduce


def test_keys_seed_change_invalidates_every_stage(build: Build) -> None:
    """The seed feeds the generate keys, so every downstream key changes too."""
    before = first_unit(build(seed=1)).keys
    after = first_unit(build(seed=2)).keys

    assert set(before.all()).isdisjoint(after.all())


def test_keys_are_distinct_per_sample_and_case(build: Build) -> None:
    """Each sample of each case is its own work item."""
    units = list(build().PIPELINE.units())
    keys = [key for unit in units for key in unit.keys.all()]

    assert len(keys) == len(set(keys)) == 4 * (3 + 1 + 1 + 2 + 1)


def test_added_cases_execute_only_their_own_work(build: Build) -> None:
    """Adding cases to a dataset runs only the new cases' work items."""
    store = MemoryStore()
    build(cases=4).PIPELINE.run(store)

    result = build(cases=6).PIPELINE.run(store)

    assert result.stages["generate"] == {"executed": 6, "reused": 12, "failed": 0}
    assert result.stages["judge"] == {"executed": 2, "reused": 4, "failed": 0}


def test_plan_counts_stored_and_pending_items(build: Build) -> None:
    """The plan of a half-stored run says what is stored and what would execute."""
    store = MemoryStore()
    build(cases=2).PIPELINE.run(store)

    plan = build(cases=4).PIPELINE.plan(store)

    assert plan.stages["generate"] == {"total": 12, "stored": 6, "execute": 6}
    assert plan.stages["score"] == {"total": 8, "stored": 4, "execute": 4}


def test_totals_count_items_per_stage(build: Build) -> None:
    """Totals multiply the units by samples, metrics and judges."""
    totals = build(cases=5).PIPELINE.totals()

    assert totals == {"generate": 15, "reduce": 5, "parse": 5, "score": 10, "judge": 5}


@pytest.mark.parametrize(
    "template",
    [
        "Say {{ n }} twice: {{ n }}{{n}}.",
        "Trailing newline {{ n }}\n",
        "{{- n -}}   spaced",
        "{# a comment #}{{ n }}",
        "No fields at all",
        "",
        "{{ n | upper }} and {{ data.x }}",
        "{% if n %}yes{% endif %}",
    ],
)
def test_prompt_renders_as_jinja2_does(template: str) -> None:
    """The fast path for plain templates renders exactly what jinja2 renders."""
    fields = {"n": "x7", "data": {"x": 1}}
    environment = jinja2.Environment(keep_trailing_newline=True)
    expected = environment.from_string(template).render(fields)

    [message] = Prompt([("user", template)]).render(fields)

    assert message.content == expected


def test_prompt_missing_field_raises_undefined() -> None:
    """A field the case lacks is an error, never an empty insertion."""
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        Prompt([("user", "Say {{ missing }}")]).render({"n": 1})
