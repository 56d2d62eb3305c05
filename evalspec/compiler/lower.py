"""Lower parse trees to the IR: resolve names, validate, collect diagnostics.

Every problem in a spec is collected in one pass, sorted by position and
raised together as one SpecError. Each kind of statement is lowered by a
private module; this one reads the statements and assembles the program.
"""

from __future__ import annotations

import hashlib
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from evalspec.compiler import ir
from evalspec.compiler._components import (
    check_fields,
    check_metric_names,
    component_statement,
    default_component,
    metric_name,
)
from evalspec.compiler._context import Lowering, Statement, named
from evalspec.compiler._datasets import lower_dataset
from evalspec.compiler._generate import judge_builder, lower_generate, lower_model
from evalspec.compiler._prompts import check_placeholders, lower_prompt
from evalspec.compiler._settings import lower_experiment, lower_runtime
from evalspec.compiler._statements import statements
from evalspec.compiler.values import span_of
from evalspec.errors import SpecError

__all__ = ["load_program", "metric_name"]

_SINGLE = ("experiment", "generate", "reduce", "parse", "runtime")

_Grouped = Mapping[str, list[Statement]]


def load_program(
    text: str, path: str, overrides: Mapping[str, Any] | None = None
) -> ir.Program:
    """Return the IR of the spec `text` read from `path`; raise SpecError.

    The spec is lowered as written: `overrides` is accepted for the callers'
    sake, and `evalspec.compiler.overrides.apply_overrides` applies overrides
    to the returned program.
    """
    state = Lowering.of(path, text)
    with _importable(state.spec_dir):
        program = _lower(state)
    if state.diagnostics or program is None:
        raise SpecError(sorted(state.diagnostics, key=lambda d: d.sort_key))

    return program


@contextmanager
def _importable(directory: Path) -> Iterator[None]:
    """Make modules beside the spec importable while it compiles."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)


def _lower(state: Lowering) -> ir.Program | None:
    """Return the program, or None when a diagnostic was recorded."""
    found = list(statements(state, state.text, state.path, chain=()))
    program = _build(state, _group(found))
    if program is None:
        return None
    sha = hashlib.sha256(state.text.encode("utf-8", "surrogatepass")).hexdigest()

    return program.model_copy(update={"spec_sha256": sha})


def _group(found: list[Statement]) -> _Grouped:
    """Return the statements by kind, reporting repeats of single statements."""
    by_kind: defaultdict[str, list[Statement]] = defaultdict(list)
    for statement in found:
        by_kind[statement.kind].append(statement)
    for kind in _SINGLE:
        for extra in by_kind[kind][1:]:
            extra.reader.error(
                (
                    span_of(extra.tree.children[0])
                    if kind != "experiment"
                    else extra.span
                ),
                f"duplicate `{kind}` statement",
                help="a spec has at most one; merge them",
            )

    return by_kind


def _build(state: Lowering, by_kind: _Grouped) -> ir.Program | None:
    """Return the program of the grouped statements, or None on any error."""
    experiment = lower_experiment(state.path, by_kind["experiment"])
    datasets = named(
        state, by_kind["dataset"], partial(lower_dataset, state), "dataset"
    )
    models = named(state, by_kind["model"], partial(lower_model, state), "model")
    prompts = named(state, by_kind["prompt"], partial(lower_prompt, state), "prompt")
    generate = lower_generate(state, by_kind["generate"])
    reduce = default_component(state, "reducer", by_kind["reduce"], "first")
    parse_ = default_component(state, "parser", by_kind["parse"], "strip")
    scores = [component_statement(state, "metric", s) for s in by_kind["score"]]
    check_metric_names(scores, by_kind["score"])
    judges = named(state, by_kind["judge"], judge_builder(state, models), "judge")
    runtime = lower_runtime(by_kind["runtime"])
    _check(state, by_kind, datasets)
    if state.diagnostics or generate is None or reduce is None or parse_ is None:
        return None

    return ir.Program(
        spec_path=state.path,
        spec_dir=str(state.spec_dir),
        spec_sha256="",
        includes=tuple(state.includes),
        experiment=experiment,
        datasets=tuple(datasets.values()),
        models=tuple(models.values()),
        prompts=tuple(prompts.values()),
        generate=generate,
        reduce=reduce,
        parse=parse_,
        scores=tuple(s for s in scores if s is not None),
        judges=tuple(judges.values()),
        runtime=runtime,
        env_names=tuple(sorted(state.env_names)),
    )


def _check(
    state: Lowering, by_kind: _Grouped, datasets: Mapping[str, ir.DatasetNode]
) -> None:
    """Run the checks across statements, and report missing statements."""
    if len(datasets) == len(state.declared.get("dataset", ())):
        check_placeholders(state, datasets)
        check_fields(state, datasets)
    if not datasets and not by_kind["dataset"]:
        state.missing("dataset", 'dataset cases { case c1 { input "2+2" } }')
    if not by_kind["score"]:
        state.missing("score", "score exact_match { expected answer }")
