"""One execution of a pipeline: workers, limits, retries, artifacts and counts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from evalspec.errors import ParseFailure, ProviderError
from evalspec.runtime.components.base import (
    Completion,
    JudgeInput,
    Message,
    Model,
    ReduceInput,
    Request,
    ScoreInput,
)
from evalspec.runtime.limits import ProviderLimit, ProviderLimits
from evalspec.runtime.result import Aggregator, RunResult
from evalspec.runtime.retry import RetryPolicy, call_with_retries
from evalspec.runtime.stages import STAGES, Runtime
from evalspec.runtime.stores import Artifact, Store

if TYPE_CHECKING:
    from evalspec.runtime.pipeline import Pipeline, Unit

__all__ = ["Execution", "Progress"]

log = logging.getLogger(__name__)

_ROWS_PER_WRITE = 256
_SIMPLE = (str, int, float, bool, type(None))


class Progress(Protocol):
    """Receives one call per finished work item: stage and outcome."""

    def __call__(self, stage: str, outcome: str) -> None:
        """Record that a `stage` item was ``executed``, ``reused`` or ``failed``."""


class _Failed(Exception):
    """A work item failed; the unit stops and its row records why."""


class Execution:
    """Carry every unit of a pipeline through its stages against a store."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        runtime: Runtime,
        progress: Progress | None,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.runtime = runtime
        self.progress = progress
        self.counts = {s: {"executed": 0, "reused": 0, "failed": 0} for s in STAGES}
        cutoff = pipeline.cutoff
        self.reuse = {
            s: cutoff is None or STAGES.index(s) < STAGES.index(cutoff) for s in STAGES
        }
        self.limits = ProviderLimits(
            ProviderLimit(concurrency=runtime.concurrency, rate_per_minute=runtime.rate)
        )
        self.stage_limits = {
            stage: anyio.CapacityLimiter(n)
            for stage, n in runtime.stage_concurrency.items()
        }
        self.policy = RetryPolicy(attempts=runtime.retries + 1)
        self.aggregator = Aggregator(multi_subject=len(pipeline.generate.subjects) > 1)
        self.rows: list[dict[str, Any]] = []
        self.attempt = 0

    async def run(self, units: Iterator[Unit]) -> RunResult:
        """Execute every unit and return the run's result."""
        pipeline = self.pipeline
        snapshot = _snapshot(pipeline.snapshot)
        self.attempt = self.store.begin_run(
            pipeline.run_id, pipeline.experiment, pipeline.cutoff, snapshot
        )
        status = "interrupted"
        try:
            async with anyio.create_task_group() as group:
                for _ in range(max(1, self.runtime.concurrency)):
                    group.start_soon(self._worker, units)
            status = self._status()
        finally:
            with anyio.CancelScope(shield=True):
                self._write_rows()
                metrics = self.aggregator.metrics()
                self.store.end_run(self.attempt, status, self.counts, metrics)
                self.store.flush()

        return RunResult(
            run_id=pipeline.run_id,
            experiment=pipeline.experiment,
            status=status,
            stages=self.counts,
            metrics=metrics,
            comparisons=self.aggregator.comparisons(),
            attempt=self.attempt,
            cutoff=pipeline.cutoff,
            store=self.store,
        )

    def _status(self) -> str:
        failed = sum(c["failed"] for c in self.counts.values())
        if not failed:
            return "completed"
        if self.aggregator.units_ok == 0:
            return "failed"

        return "partial"

    async def _worker(self, units: Iterator[Unit]) -> None:
        for unit in units:
            row = await self._unit(unit)
            self.rows.append(row)
            if len(self.rows) >= _ROWS_PER_WRITE:
                self._write_rows()

    def _write_rows(self) -> None:
        if self.rows:
            self.store.put_rows(self.attempt, self.rows)
            self.rows = []

    # -- one unit ---------------------------------------------------------------

    async def _unit(self, unit: Unit) -> dict[str, Any]:
        pipeline = self.pipeline
        stored = self.store.get(unit.keys.all())
        case = unit.case
        row: dict[str, Any] = {
            "case_id": case.id,
            "dataset": case.dataset,
            "subject": unit.subject.name,
            "inputs": dict(case.fields),
            "prompt": "",
            "candidates": [],
            "reduced": None,
            "parsed": None,
            "parse_error": None,
            "scores": {},
            "judgments": {},
            "errors": [],
        }
        try:
            await self._run_unit(unit, stored, row)
        except _Failed:
            pass
        else:
            self.aggregator.units_ok += 1
        del pipeline

        return row

    async def _run_unit(
        self, unit: Unit, stored: Mapping[str, Artifact], row: dict[str, Any]
    ) -> None:
        pipeline = self.pipeline
        case = unit.case
        candidates = await self._generate(unit, stored, row)
        row["candidates"] = candidates
        reduced = self._sync(
            "reduce",
            unit.keys.reduce,
            stored,
            row,
            lambda: pipeline.reduce.reduce(
                ReduceInput(candidates, case.fields, pipeline.parse.parse)
            ),
        )
        row["reduced"] = reduced
        outcome = self._sync(
            "parse", unit.keys.parse, stored, row, lambda: _parse(pipeline.parse, reduced)
        )
        row["parsed"] = outcome.get("value")
        row["parse_error"] = outcome.get("error")
        item = ScoreInput(
            parsed=outcome.get("value"),
            reduced=reduced,
            candidates=candidates,
            case=case.fields,
            parse_error=outcome.get("error"),
        )
        failed = False
        for metric in pipeline.score:
            key = unit.keys.score[metric.name]
            try:
                value = self._sync(
                    "score", key, stored, row, lambda m=metric: float(m.score(item))
                )
            except _Failed:
                failed = True
                continue
            row["scores"][metric.name] = value
            self.aggregator.add(unit.subject.name, metric.name, case, value)
        for step in pipeline.judge:
            try:
                judgment = await self._judge(unit, step, stored, row, reduced, item)
            except _Failed:
                failed = True
                continue
            row["judgments"][step.name] = judgment
            if judgment.get("score") is not None:
                self.aggregator.add(unit.subject.name, step.name, case, judgment["score"])
        if failed:
            raise _Failed

    # -- stages -------------------------------------------------------------------

    async def _generate(
        self, unit: Unit, stored: Mapping[str, Artifact], row: dict[str, Any]
    ) -> list[str]:
        keys = unit.keys.generate
        texts: list[str | None] = [None] * len(keys)
        missing = []
        for index, key in enumerate(keys):
            artifact = stored.get(key)
            if artifact is not None and artifact.status == "ok" and self.reuse["generate"]:
                texts[index] = artifact.value["text"]
                self._count("generate", "reused")
            else:
                missing.append(index)
        messages: tuple[Message, ...] = ()
        try:
            messages = unit.subject.prompt.render(unit.case.fields)
        except Exception as exc:  # a template error belongs to this case only
            if missing:
                error = {"category": "prompt", "message": f"{type(exc).__name__}: {exc}"}
                for index in missing:
                    self._fail("generate", keys[index], error, row)
                raise _Failed from None
        row["prompt"] = "\n\n".join(m.content for m in messages)
        if len(missing) == 1:
            await self._sample(unit, messages, missing[0], texts, row)
        elif missing:
            async with anyio.create_task_group() as group:
                for index in missing:
                    group.start_soon(self._sample, unit, messages, index, texts, row)
        if any(t is None for t in texts):
            raise _Failed

        return [t for t in texts if t is not None]

    async def _sample(
        self,
        unit: Unit,
        messages: tuple[Message, ...],
        index: int,
        texts: list[str | None],
        row: dict[str, Any],
    ) -> None:
        request = Request(
            messages=messages,
            case=unit.case.fields,
            sample=index,
            seed=self.pipeline.seed,
        )
        key = unit.keys.generate[index]
        try:
            completion, retries = await self._call(unit.subject.model, request, "generate")
        except _Failed as failure:
            self._fail("generate", key, failure.args[0], row)
            return
        value = {
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "usage": dict(completion.usage) if completion.usage else None,
            "latency": completion.latency,
        }
        meta = {"retries": retries} if retries else {}
        self.store.put(Artifact(key, "generate", self.pipeline.run_id, "ok", value, meta=meta))
        self._count("generate", "executed")
        texts[index] = completion.text

    async def _call(
        self, model: Model, request: Request, stage: str
    ) -> tuple[Completion, list[dict[str, Any]]]:
        """Call `model` within its limits, retrying retryable failures."""
        timeout = self.runtime.timeout
        stage_limit = self.stage_limits.get(stage)

        async def attempt() -> Completion:
            async with self.limits.slot(model.provider):
                if stage_limit is not None:
                    async with stage_limit:
                        return await _complete(model, request, timeout)
                return await _complete(model, request, timeout)

        try:
            return await call_with_retries(attempt, self.policy)
        except ProviderError as exc:
            error = {**exc.to_json(), "retries": getattr(exc, "retries", [])}
            raise _Failed(error) from None
        except Exception as exc:  # a failing model is recorded on its work item
            error = {"category": "model", "message": f"{type(exc).__name__}: {exc}"}
            raise _Failed(error) from None

    async def _judge(
        self,
        unit: Unit,
        step: Any,
        stored: Mapping[str, Artifact],
        row: dict[str, Any],
        reduced: Any,
        item: ScoreInput,
    ) -> dict[str, Any]:
        key = unit.keys.judge[step.name]
        artifact = stored.get(key)
        if artifact is not None and artifact.status == "ok" and self.reuse["judge"]:
            self._count("judge", "reused")
            return dict(artifact.value)
        response = reduced[0] if isinstance(reduced, list) and reduced else reduced
        judge_input = JudgeInput(
            response=str(response), parsed=item.parsed, case=unit.case.fields, prompt=row["prompt"]
        )
        try:
            prompt = step.judge.render(judge_input)
        except Exception as exc:  # a judge that cannot render fails this item only
            self._fail("judge", key, _component_error(exc), row)
            raise _Failed from None
        reference_field = getattr(step.judge.params, "reference", None)
        extra = {
            "response": str(response),
            "reference": unit.case.fields.get(reference_field) if reference_field else None,
            **step.judge.request_extra(),
        }
        request = Request(
            messages=(Message("user", prompt),),
            case=unit.case.fields,
            seed=self.pipeline.seed,
            extra=extra,
        )
        try:
            completion, retries = await self._call(step.model, request, "judge")
        except _Failed as failure:
            self._fail("judge", key, failure.args[0], row)
            raise
        verdict, score, reasoning, error = step.judge.read(completion.text)
        value = {
            "score": score,
            "verdict": _jsonable(verdict),
            "reasoning": reasoning,
            "prompt": prompt,
            "raw": completion.text,
            "error": error,
        }
        meta = {"retries": retries} if retries else {}
        self.store.put(Artifact(key, "judge", self.pipeline.run_id, "ok", value, meta=meta))
        self._count("judge", "executed")

        return value

    def _sync(
        self,
        stage: str,
        key: str,
        stored: Mapping[str, Artifact],
        row: dict[str, Any],
        compute: Callable[[], Any],
    ) -> Any:
        """Return the stored value of `key`, or compute, store and return it."""
        artifact = stored.get(key)
        if artifact is not None and artifact.status == "ok" and self.reuse[stage]:
            self._count(stage, "reused")
            return artifact.value
        try:
            value = _jsonable(compute())
        except Exception as exc:  # a crashing component fails this item only
            self._fail(stage, key, _component_error(exc), row)
            raise _Failed from None
        self.store.put(Artifact(key, stage, self.pipeline.run_id, "ok", value))
        self._count(stage, "executed")

        return value

    def _fail(
        self, stage: str, key: str, error: Mapping[str, Any], row: dict[str, Any]
    ) -> None:
        self.store.put(
            Artifact(key, stage, self.pipeline.run_id, "failed", error=dict(error))
        )
        self._count(stage, "failed")
        row["errors"].append(
            {"stage": stage, "category": error.get("category"), "message": error.get("message")}
        )
        log.debug("%s failed for %s: %s", stage, row["case_id"], error.get("message"))

    def _count(self, stage: str, outcome: str) -> None:
        self.counts[stage][outcome] += 1
        if self.progress is not None:
            self.progress(stage, outcome)


async def _complete(model: Model, request: Request, timeout: float | None) -> Completion:
    if timeout is None:
        return await model.complete(request)
    with anyio.fail_after(timeout):
        return await model.complete(request)


def _parse(parser: Any, reduced: Any) -> dict[str, Any]:
    """Return the parse outcome: ``{"value": ...}`` or ``{"error": ...}``."""
    try:
        if isinstance(reduced, list):
            return {"value": [_parse_one(parser, text) for text in reduced]}
        return {"value": parser.parse(reduced)}
    except ParseFailure as exc:
        return {"value": None, "error": str(exc)}


def _parse_one(parser: Any, text: str) -> Any:
    try:
        return parser.parse(text)
    except ParseFailure:
        return None


def _component_error(exc: BaseException) -> dict[str, str]:
    return {"category": "component", "message": f"{type(exc).__name__}: {exc}"}


def _jsonable(value: Any) -> Any:
    """Return `value` as it reads back from a store (tuples become lists)."""
    if isinstance(value, _SIMPLE):
        return value

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _snapshot(snapshot: Any) -> dict[str, Any]:
    if snapshot is None:
        return {}
    if isinstance(snapshot, Mapping):
        return dict(snapshot)
    try:
        with open(snapshot, encoding="utf-8") as handle:
            loaded: dict[str, Any] = json.load(handle)
            return loaded
    except (OSError, ValueError):
        return {}


