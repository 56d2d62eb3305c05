"""The Python API: `Experiment` over a spec, and `evaluate` for a quick run.

Every entry point has a synchronous form and an awaitable twin; a
synchronous form called inside a running event loop raises EventLoopError
naming its twin.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict, Unpack

from evalspec._runners import load_runner, write_runner
from evalspec.compiler import Compiled, RunSnapshot, compile_file, compile_text
from evalspec.compiler.overrides import apply_overrides
from evalspec.compiler.snapshot import make_snapshot
from evalspec.errors import EventLoopError, UsageError
from evalspec.runtime import live
from evalspec.runtime.components.base import Component
from evalspec.runtime.datasets import Case, Dataset
from evalspec.runtime.pipeline import Pipeline, Plan
from evalspec.runtime.result import Aggregator, RunResult
from evalspec.runtime.stages import Runtime
from evalspec.runtime.stores import RunRecord, Store, open_store

__all__ = ["Experiment", "evaluate", "evaluate_async", "find_run", "load"]

StoreLike = Store | str | os.PathLike[str] | None


class RunSettings(TypedDict, total=False):
    """How a run executes; none of these change what it means (its run_id)."""

    concurrency: int | None
    rate: float | None
    retries: int | None
    timeout: float | None


class BuildOptions(TypedDict, total=False):
    """The optional parts of an experiment built in Python."""

    prompt: str | None
    parser: Any
    reducer: Any
    samples: int
    judge: Any
    seed: int


def _no_running_loop(name: str, twin: str) -> None:
    """Raise EventLoopError when called inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    msg = (
        f"{name}() cannot run inside a running event loop (a notebook or an "
        f"async app); use `await {twin}(...)` instead."
    )
    raise EventLoopError(msg)


class Experiment:
    """An experiment compiled from a `.evalspec` file or text.

    Components are resolved when the experiment is made; nothing runs until
    `run()`. The store is kept on the experiment, so `replay()` and
    `rejudge()` after `run()` work on the same artifacts, a memory store
    included.
    """

    def __init__(self, compiled: Compiled, store: StoreLike = None) -> None:
        self._compiled = compiled
        self._store_spec = store
        self._store: Store | None = store if isinstance(store, Store) else None
        self._runners: dict[str | None, ModuleType] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="evalspec-experiment-"))
        #: Directories this experiment made and may remove: runners, built specs.
        self._scratch = [self._dir]

    @classmethod
    def from_config(
        cls,
        path_or_text: str | os.PathLike[str],
        overrides: Mapping[str, Any] | None = None,
        *,
        store: StoreLike = None,
    ) -> Experiment:
        """Return the experiment of a spec file, or of spec text.

        `overrides` maps dotted fields to new values, such as
        ``{"generate.samples": 5}``.
        """
        text = os.fspath(path_or_text)
        if _looks_like_path(text):
            compiled = compile_file(text)
        else:
            compiled = compile_text(text, "<spec>")
        if overrides:
            program = apply_overrides(compiled.program, overrides)
            compiled = Compiled(program, make_snapshot(program))

        return cls(compiled, store)

    @classmethod
    def build(
        cls,
        *,
        model: Any,
        data: Any,
        metric: Any = "exact_match",
        name: str = "evaluate",
        store: StoreLike = "memory",
        **options: Unpack[BuildOptions],
    ) -> Experiment:
        """Return an experiment built in Python, without a spec file.

        It compiles to the same IR, snapshot and runner as the spec it
        stands for (`spec_text` shows it). `model` may map subject names to
        models, making a matrix. Live objects such as lambdas are named in
        the runner as process-local. See `evaluate_async` for the arguments.
        """
        directory = Path(tempfile.mkdtemp(prefix="evalspec-build-"))
        text = build_spec(model, data, metric, name, directory, options)
        spec = directory / f"{name}.evalspec"
        spec.write_text(text, encoding="utf-8")
        experiment = cls(compile_file(spec), store)
        experiment._scratch.append(directory)

        return experiment

    @property
    def spec_text(self) -> str:
        """Return the spec text this experiment was compiled from."""
        return Path(self._compiled.program.spec_path).read_text(encoding="utf-8")

    @property
    def run_id(self) -> str:
        """Return the experiment's run_id."""
        return self._compiled.run_id

    @property
    def store(self) -> Store:
        """Return the store this experiment reads and writes, opening it once."""
        if self._store is None:
            self._store = open_store(self._store_spec)
        return self._store

    def compile(self) -> RunSnapshot:
        """Return the RunSnapshot (identity, provenance, run_id); run nothing."""
        return self._compiled.snapshot

    def runner_source(self, stage: str | None = None) -> str:
        """Return the emitted runner module's source (the replay form for `stage`)."""
        return self._compiled.runner(self._dir / (stage or "run"), stage)

    def pipeline(self, stage: str | None = None) -> Pipeline:
        """Return the pipeline of the emitted runner (replaying from `stage`)."""
        module = self._runners.get(stage)
        if module is None:
            path = write_runner(self._compiled, self._dir / (stage or "run"), stage)
            module = self._runners[stage] = load_runner(path)
        pipeline: Pipeline = module.PIPELINE

        return pipeline

    def plan(self) -> Plan:
        """Return how many work items a run would execute and reuse, per stage."""
        return self.pipeline().plan(self.store)

    async def run_async(self, **settings: Unpack[RunSettings]) -> RunResult:
        """Execute every work item not already stored; return the result.

        `settings` (`concurrency`, `rate`, `retries`, `timeout`) override the
        spec's runtime block for this run; they never change the run_id.
        """
        return await self._execute(None, settings)

    def run(self, **settings: Unpack[RunSettings]) -> RunResult:
        """Execute the experiment synchronously; see `run_async`."""
        _no_running_loop("Experiment.run", "Experiment.run_async")
        return asyncio.run(self.run_async(**settings))

    async def replay_async(
        self, stage: str, **settings: Unpack[RunSettings]
    ) -> RunResult:
        """Re-run `stage` and every later stage from stored upstream artifacts."""
        return await self._execute(stage, settings)

    def replay(self, stage: str, **settings: Unpack[RunSettings]) -> RunResult:
        """Replay synchronously; see `replay_async`."""
        _no_running_loop("Experiment.replay", "Experiment.replay_async")
        return asyncio.run(self.replay_async(stage, **settings))

    async def rejudge_async(self, **settings: Unpack[RunSettings]) -> RunResult:
        """Re-run the judge stage from stored artifacts: `replay_async("judge")`."""
        return await self._execute("judge", settings)

    def rejudge(self, **settings: Unpack[RunSettings]) -> RunResult:
        """Rejudge synchronously; see `rejudge_async`."""
        _no_running_loop("Experiment.rejudge", "Experiment.rejudge_async")
        return asyncio.run(self.rejudge_async(**settings))

    async def _execute(self, stage: str | None, settings: RunSettings) -> RunResult:
        unknown = sorted(set(settings) - set(RunSettings.__annotations__))
        if unknown:
            known = ", ".join(sorted(RunSettings.__annotations__))
            msg = f"unknown run setting {unknown[0]!r}; the settings are {known}."
            raise UsageError(msg)
        pipeline = self.pipeline(stage)
        runtime: Runtime = pipeline.runtime.replace(**settings)
        store = self.store
        result = await pipeline.run_async(store, runtime=runtime)
        store.flush()

        return result

    def discard_files(self) -> None:
        """Remove the temporary runner and spec files this experiment wrote.

        Results stay in the store; a later run or replay writes what it needs
        again, except the data of an experiment built in Python.
        """
        for directory in self._scratch:
            shutil.rmtree(directory, ignore_errors=True)
        self._runners.clear()

    def close(self) -> None:
        """Flush and close the experiment's store."""
        if self._store is not None:
            self._store.close()


def _looks_like_path(text: str) -> bool:
    if "\n" in text or "{" in text:
        return False

    return text.endswith(".evalspec") or Path(text).is_file()


def _spec_string(text: str) -> str:
    """Return `text` as a .evalspec string literal."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)

    return '"' + "".join(out) + '"'


def _component(value: Any, kind: str) -> str:
    """Return the spec text naming `value`: a builtin id or a live object."""
    if isinstance(value, str):
        return (
            value
            if re.fullmatch(r"[A-Za-z_]\w*", value)
            else f"python {_spec_string(value)}"
        )
    if isinstance(value, Component):
        params = value.params.model_dump(mode="json", exclude_defaults=True)
        body = "  ".join(f"{k} {_spec_value(v)}" for k, v in params.items())
        if not body:
            return value.id
        # A model block holds its parameters beside `use`; other kinds take a block.
        return f"{value.id}  {body}" if kind == "model" else f"{value.id} {{ {body} }}"

    reference = f"python {_spec_string(live.register(value, kind))}"
    if kind == "metric":
        label = getattr(value, "__name__", "metric")
        label = "metric" if label == "<lambda>" else label
        reference += f" {{ name {_spec_string(label)} }}"

    return reference


def _spec_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _spec_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_spec_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(
            f"{_spec_string(k)}: {_spec_value(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    msg = f"cannot write {value!r} into a spec"
    raise UsageError(msg)


def _data_source(data: Any, directory: Path) -> str:
    """Return the dataset's `from` path, writing in-memory records to JSONL."""
    if isinstance(data, str | os.PathLike):
        return str(Path(data).resolve())
    if isinstance(data, Dataset):
        records: Any = data.records_iter()
    else:
        records = data
    path = directory / "data.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            if not isinstance(record, Mapping):
                msg = (
                    f"evaluate(data=...) takes a list of dicts; got an item {record!r}."
                )
                raise UsageError(msg)
            handle.write(json.dumps(dict(record), ensure_ascii=False) + "\n")

    return str(path)


def _models_text(model: Any) -> tuple[list[str], list[str]]:
    """Return the model statements and names for one model or a name→model map."""
    models = model if isinstance(model, Mapping) else {"subject": model}
    lines, names = [], []
    for name, value in models.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
            msg = f"model names must be identifiers such as `gpt_small`; got {name!r}."
            raise UsageError(msg)
        lines.append(f"model {name} {{ use {_component(value, 'model')} }}")
        names.append(name)

    return lines, names


def build_spec(
    model: Any,
    data: Any,
    metric: Any,
    name: str,
    directory: Path,
    options: BuildOptions,
) -> str:
    """Return the spec text equivalent to Python-built experiment arguments."""
    unknown = sorted(set(options) - set(BuildOptions.__annotations__))
    if unknown:
        known = ", ".join(sorted(BuildOptions.__annotations__))
        msg = f"unknown argument {unknown[0]!r}; the options are {known}."
        raise UsageError(msg)
    metrics = metric if isinstance(metric, list | tuple) else [metric]
    models, names = _models_text(model)
    prompt = options.get("prompt") or "{{ input }}"
    samples, seed = options.get("samples", 1), options.get("seed", 0)
    reducer, parser = options.get("reducer"), options.get("parser")
    judge = options.get("judge")
    lines = [
        f"experiment {name} {{ seed {int(seed)} }}",
        f"dataset data {{ from {_spec_string(_data_source(data, directory))} }}",
        *models,
        f"prompt input {_spec_string(prompt)}",
        f"generate {{ model [{', '.join(names)}]  prompt input  "
        f"samples {int(samples)} }}",
    ]
    if reducer is not None:
        lines.append(f"reduce {_component(reducer, 'reducer')}")
    if parser is not None:
        lines.append(f"parse {_component(parser, 'parser')}")
    lines += [f"score {_component(m, 'metric')}" for m in metrics]
    if judge is not None:
        lines.append(f"model judge_model {{ use {_component(judge, 'model')} }}")
        lines.append("judge judge { model judge_model  reference expected }")

    return "\n".join(lines) + "\n"


async def evaluate_async(
    *,
    model: Any,
    data: Any,
    metric: Any = "exact_match",
    store: StoreLike = "memory",
    concurrency: int | None = None,
    **options: Unpack[BuildOptions],
) -> RunResult:
    """Evaluate `model` on `data` with `metric`; return the run's result.

    `model` is a builtin id (``"noisy_oracle"``), a component object, or a
    sync or async callable from prompt text to text. `data` is a list of
    dicts, a path to a JSONL, CSV or JSON file, or a Dataset. `metric` is an
    id, a callable ``(parsed, case) -> float``, or a list of either. Without
    a `prompt`, each case's ``input`` field is the prompt, and metrics compare
    against its ``expected`` field. The other options are `parser`,
    `reducer` (ids, components or callables), `samples` per case, `seed`, and
    `judge`: the model of a rubric judge comparing answers with ``expected``.
    """
    experiment = Experiment.build(
        model=model, data=data, metric=metric, store=store, **options
    )
    try:
        return await experiment.run_async(concurrency=concurrency)
    finally:
        experiment.discard_files()


def evaluate(
    *,
    model: Any,
    data: Any,
    metric: Any = "exact_match",
    store: StoreLike = "memory",
    concurrency: int | None = None,
    **options: Unpack[BuildOptions],
) -> RunResult:
    """Evaluate synchronously; see `evaluate_async` for the arguments."""
    _no_running_loop("evaluate", "evaluate_async")
    run = evaluate_async(
        model=model,
        data=data,
        metric=metric,
        store=store,
        concurrency=concurrency,
        **options,
    )

    return asyncio.run(run)


def load(run: str, store: StoreLike = None) -> RunResult:
    """Reopen the newest stored result of `run` (a run_id or a prefix of one)."""
    opened = store if isinstance(store, Store) else open_store(store)
    record = find_run(opened, run)
    subjects = run_subjects(record)
    aggregator = aggregate_rows(opened.rows(record.attempt), subjects)

    return RunResult(
        run_id=record.run_id,
        experiment=record.experiment,
        status=record.status or "interrupted",
        stages=record.counts,
        metrics=list(record.metrics),
        comparisons=aggregator.comparisons(),
        agreement=aggregator.agreement(),
        attempt=record.attempt,
        cutoff=record.cutoff,
        store=opened,
    )


def find_run(store: Store, run: str) -> RunRecord:
    """Return the newest run attempt whose run_id is or starts with `run`."""
    matches = [r for r in store.runs() if r.run_id.startswith(run)]
    ids = sorted({r.run_id for r in matches})
    if not matches:
        msg = (
            f"no run `{run}` in {store.location}; `evalspec runs --store "
            f"{store.location}` lists the stored runs."
        )
        raise UsageError(msg)
    if len(ids) > 1:
        msg = (
            f"`{run}` matches several runs ({', '.join(ids)}); give more of the run_id."
        )
        raise UsageError(msg)
    finished = [r for r in matches if r.status in ("completed", "partial", "failed")]

    return (finished or matches)[0]


def run_subjects(record: RunRecord) -> list[str]:
    """Return a stored run's subjects in matrix order, from its snapshot."""
    names = record.snapshot.get("provenance", {}).get("names", {})

    return list(names.get("subjects", []))


def aggregate_rows(rows: Any, subjects: Sequence[str] = ()) -> Aggregator:
    """Return the scores of stored result rows, collected as a run collects them.

    Subjects keep the order of `subjects` (matrix order); pairwise judges,
    whose judgments compare two subjects, take no part in judge agreement.
    """
    rows = list(rows)
    judges = dict.fromkeys(
        name
        for row in rows
        for name, judgment in row["judgments"].items()
        if "orders" not in judgment
    )
    aggregator = Aggregator(multi_subject=True, judges=list(judges), subjects=subjects)
    for row in rows:
        case = Case(row.get("dataset", ""), row["case_id"], {}, "")
        for metric, value in row["scores"].items():
            aggregator.add(row["subject"], metric, case, value)
        for judge, judgment in row["judgments"].items():
            if judgment.get("score") is not None:
                aggregator.add(row["subject"], judge, case, judgment["score"])

    return aggregator


def comparisons_from_rows(
    rows: Any, baseline: str | None = None, subjects: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Return each subject's paired comparison with `baseline`.

    Without a `baseline`, the first of `subjects` (matrix order) is the
    baseline, as in a run's own result.
    """
    aggregator = aggregate_rows(rows, subjects)
    seen = list(dict.fromkeys(s for s, _ in aggregator.order))
    if len(seen) < 2:
        return []
    if baseline is not None:
        if baseline not in seen:
            msg = f"no subject `{baseline}`; the subjects are {', '.join(seen)}."
            raise UsageError(msg)
        aggregator.subjects = (baseline, *(s for s in seen if s != baseline))

    return aggregator.comparisons()
