"""The pipeline: cases flow through generate → reduce → parse → score → judge.

Work is pipelined per case: a bounded pool of workers takes one (case,
subject) unit at a time and carries it through every stage, so memory is
bounded by concurrency, not by dataset size. Before a work item executes,
its stage key is looked up in the store and a stored artifact is reused;
that one mechanism gives resume, incremental re-runs and replay.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from evalspec.errors import MissingArtifactsError, UsageError
from evalspec.runtime.canonical import digest
from evalspec.runtime.components.base import Metric, Parser, Reducer
from evalspec.runtime.datasets import Case, Dataset
from evalspec.runtime.execution import Execution, Progress
from evalspec.runtime.keys import UnitKeys, stage_key
from evalspec.runtime.result import RunResult
from evalspec.runtime.stages import STAGES, Generate, JudgeStep, Runtime, Subject
from evalspec.runtime.stores import Store

__all__ = ["Pipeline", "Plan", "Unit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unit:
    """One case and one subject, with every stage key of their work."""

    case: Case
    subject: Subject
    keys: UnitKeys


@dataclass(frozen=True)
class Plan:
    """What a run would do: per stage, work items stored and to execute."""

    run_id: str
    stages: Mapping[str, Mapping[str, int]]
    calls: Mapping[str, Mapping[str, int]]
    """Per model name: ``calls`` it would make and ``prompt_tokens`` estimated."""

    def to_json(self) -> dict[str, Any]:
        """Return the plan as the object `evalspec plan --json` prints."""
        return {
            "run_id": self.run_id,
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "models": {k: dict(v) for k, v in self.calls.items()},
            "token_estimate": "characters of rendered prompts / 4",
        }


class Pipeline:
    """An experiment ready to execute: datasets, stages and runtime settings."""

    def __init__(
        self,
        *,
        run_id: str,
        experiment: str,
        seed: int,
        datasets: Sequence[Dataset],
        generate: Generate,
        reduce: Reducer,
        parse: Parser,
        score: Sequence[Metric],
        judge: Sequence[JudgeStep] = (),
        cutoff: str | None = None,
        runtime: Runtime | None = None,
        snapshot: Mapping[str, Any] | Path | None = None,
        spec: str | None = None,
        spec_dir: Path | None = None,
    ) -> None:
        if cutoff is not None and cutoff not in STAGES[1:]:
            msg = f"cutoff must be one of {', '.join(STAGES[1:])}, not {cutoff!r}."
            raise UsageError(msg)
        self.run_id = run_id
        self.experiment = experiment
        self.seed = seed
        self.datasets = list(datasets)
        self.generate = generate
        self.reduce = reduce
        self.parse = parse
        self.score = list(score)
        self.judge = list(judge)
        self.cutoff = cutoff
        self.runtime = runtime or Runtime()
        self.snapshot = snapshot
        self.spec = spec
        self.spec_dir = spec_dir
        uses_parser = getattr(reduce, "uses_parser", True)
        self._reduce_fp = digest(
            reduce.describe(), parse.describe() if uses_parser else None
        )
        self._parse_fp = digest(parse.describe())
        self._score_fps = {m.name: digest(m.describe()) for m in self.score}
        #: Judges of one subject's answer; pairwise judges compare two subjects.
        self.pointwise = [j for j in self.judge if not _is_pairwise(j)]
        self.pairwise = [j for j in self.judge if _is_pairwise(j)]
        self._judge_fps = {j.name: j.fingerprint for j in self.pointwise}

    # -- keys and units -----------------------------------------------------------

    def keys(self, case: Case, subject: Subject) -> UnitKeys:
        """Return every stage key of `case` under `subject`."""
        seed = str(self.seed)
        generate = tuple(
            stage_key("generate", subject.fingerprint, case.hash, seed, str(i))
            for i in range(self.generate.samples)
        )
        reduce = stage_key("reduce", self._reduce_fp, *generate)
        parse = stage_key("parse", self._parse_fp, reduce)

        return UnitKeys(
            generate=generate,
            reduce=reduce,
            parse=parse,
            score={
                n: stage_key("score", fp, parse) for n, fp in self._score_fps.items()
            },
            judge={
                n: stage_key("judge", fp, parse) for n, fp in self._judge_fps.items()
            },
        )

    def verify(self) -> None:
        """Raise DatasetChangedError when a dataset changed since compiling."""
        for dataset in self.datasets:
            dataset.verify()

    def cases(self, *, verify: bool = True) -> Iterator[Case]:
        """Yield every case of every dataset, first checking their fingerprints.

        `verify=False` skips the check for a caller that has just made it.
        """
        self._importable()
        if verify:
            self.verify()
        for dataset in self.datasets:
            yield from dataset.cases()

    def units(self, *, verify: bool = True) -> Iterator[Unit]:
        """Yield every (case, subject) unit in dataset order; see `cases`."""
        for case in self.cases(verify=verify):
            for subject in self.generate.subjects:
                yield Unit(case, subject, self.keys(case, subject))

    def totals(self) -> dict[str, int]:
        """Return how many work items each stage has, counting the cases."""
        cases = sum(1 for _ in self.cases())
        subjects = len(self.generate.subjects)
        units = cases * subjects
        pairs = cases * (subjects - 1) * len(self.pairwise)

        return {
            "generate": units * self.generate.samples,
            "reduce": units,
            "parse": units,
            "score": units * len(self.score),
            "judge": units * len(self.pointwise) + pairs,
        }

    def _importable(self) -> None:
        if self.spec_dir is not None and str(self.spec_dir) not in sys.path:
            sys.path.insert(0, str(self.spec_dir))

    # -- planning -----------------------------------------------------------------

    def plan(self, store: Store, *, verify: bool = True) -> Plan:
        """Return, per stage, how many work items are stored and would execute."""
        stages = {s: {"total": 0, "stored": 0, "execute": 0} for s in STAGES}
        calls: dict[str, dict[str, int]] = {}
        replayed = set(STAGES[STAGES.index(self.cutoff) :]) if self.cutoff else set()
        case_units: list[Unit] = []
        for unit in self.units(verify=verify):
            if case_units and unit.case is not case_units[0].case:
                self._plan_pairs(store, case_units, stages["judge"], replayed, calls)
                case_units = []
            case_units.append(unit)
            stored = store.get(unit.keys.all())
            generate_missing = 0
            for stage, key in unit.keys.by_stage():
                artifact = stored.get(key)
                have = artifact is not None and artifact.status == "ok"
                counts = stages[stage]
                counts["total"] += 1
                counts["stored"] += have
                execute = stage in replayed or not have
                counts["execute"] += execute
                if stage == "generate" and execute:
                    generate_missing += 1
            if generate_missing:
                self._count_calls(calls, unit, generate_missing)
        if case_units:
            self._plan_pairs(store, case_units, stages["judge"], replayed, calls)
        for step in self.pointwise:
            # Judge prompts hold the answers, so their tokens are not estimated.
            name = f"judge {step.name} ({_model_label(step.model)})"
            entry = calls.setdefault(name, {"calls": 0, "prompt_tokens": 0})
            entry["calls"] += stages["judge"]["execute"] // len(self.pointwise)

        return Plan(self.run_id, stages, calls)

    def _plan_pairs(
        self,
        store: Store,
        units: list[Unit],
        counts: dict[str, int],
        replayed: set[str],
        calls: dict[str, dict[str, int]],
    ) -> None:
        """Count the pairwise comparisons of one case: two judge calls each."""
        for step in self.pairwise:
            baseline_name = getattr(step.judge.params, "baseline", None)
            baseline = next(
                (u for u in units if u.subject.name == baseline_name), units[0]
            )
            keys = [
                stage_key("judge", step.fingerprint, baseline.keys.parse, u.keys.parse)
                for u in units
                if u is not baseline
            ]
            stored = store.get(keys)
            name = f"judge {step.name} ({_model_label(step.model)})"
            entry = calls.setdefault(name, {"calls": 0, "prompt_tokens": 0})
            for key in keys:
                artifact = stored.get(key)
                have = artifact is not None and artifact.status == "ok"
                execute = "judge" in replayed or not have
                counts["total"] += 1
                counts["stored"] += have
                counts["execute"] += execute
                entry["calls"] += 2 * execute

    def _count_calls(
        self, calls: dict[str, dict[str, int]], unit: Unit, n: int
    ) -> None:
        name = unit.subject.name.partition("/")[0]
        entry = calls.setdefault(name, {"calls": 0, "prompt_tokens": 0})
        entry["calls"] += n
        try:
            messages = unit.subject.prompt.render(unit.case.fields)
        except Exception:  # a prompt that fails to render is counted, not estimated
            return
        characters = sum(len(m.content) for m in messages)
        entry["prompt_tokens"] += n * math.ceil(characters / 4)

    def check_upstream(self, store: Store, *, verify: bool = True) -> None:
        """Raise MissingArtifactsError when a replay lacks stored upstream work."""
        if self.cutoff is None:
            return
        plan = self.plan(store, verify=verify)
        for stage in STAGES[: STAGES.index(self.cutoff)]:
            counts = plan.stages[stage]
            missing = counts["total"] - counts["stored"]
            if missing:
                raise MissingArtifactsError(
                    self._missing(store, stage, missing, counts)
                )

    def _missing(
        self, store: Store, stage: str, missing: int, counts: Mapping[str, int]
    ) -> str:
        """Return the message saying which upstream artifacts a replay lacks."""
        spec = self.spec or "SPEC"
        msg = (
            f"cannot replay from `{self.cutoff}`: {missing} of {counts['total']} "
            f"`{stage}` artifacts are missing from the store {store.location}. "
        )
        if store.location == "memory":
            return msg + (
                "A memory store keeps artifacts only in the process and store "
                "object that produced them: replay with the same store object "
                "after running, or run and replay against an SQLite store "
                f"(`evalspec run {spec} --store store.db`)."
            )

        return (
            msg + f"Produce them with `evalspec run {spec} --store {store.location}`."
        )

    # -- running ------------------------------------------------------------------

    async def run_async(
        self,
        store: Store,
        *,
        runtime: Runtime | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        """Execute the pipeline against `store` and return its result."""
        runtime = runtime or self.runtime
        # Changed data fails here, once, before any work starts.
        self.verify()
        self.check_upstream(store, verify=False)
        execution = Execution(self, store, runtime, progress)
        started = time.perf_counter()
        log.info("run %s: started (cutoff %s)", self.run_id, self.cutoff or "none")
        result = await execution.run(self.units(verify=False))
        log.info(
            "run %s: %s in %.2fs %s",
            self.run_id,
            result.status,
            time.perf_counter() - started,
            result.stages,
        )

        return result

    def run(
        self,
        store: Store,
        *,
        runtime: Runtime | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        """Execute the pipeline synchronously; see `run_async`."""
        return anyio.run(_call_run, self, store, runtime, progress)

    def with_cutoff(self, cutoff: str | None) -> Pipeline:
        """Return this pipeline replaying from `cutoff`."""
        clone = object.__new__(Pipeline)
        clone.__dict__.update(self.__dict__)
        if cutoff is not None and cutoff not in STAGES[1:]:
            msg = f"stage must be one of {', '.join(STAGES[1:])}, not {cutoff!r}."
            raise UsageError(msg)
        clone.cutoff = cutoff

        return clone


async def _call_run(
    pipeline: Pipeline,
    store: Store,
    runtime: Runtime | None,
    progress: Progress | None,
) -> RunResult:
    return await pipeline.run_async(store, runtime=runtime, progress=progress)


def _model_label(model: Any) -> str:
    return str(getattr(model, "id", type(model).__name__))


def _is_pairwise(step: JudgeStep) -> bool:
    """Return whether `step` compares two subjects rather than grading one."""
    return bool(getattr(step.judge, "pairwise", False))
