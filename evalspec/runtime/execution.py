"""One execution of a pipeline: workers, limits, retries, artifacts and counts.

`concurrency` workers each take one (case, subject) unit at a time and carry
it through every stage, so memory stays bounded by the workers and the
lookup batch, never by the dataset. Units are looked up in the store a batch
at a time: one query answers for `_LOOKUP_BATCH` units. Every model call goes
through its provider's concurrency slot and request rate, and its stage's
cap when it has one, and retryable failures are retried with backoff; each
retry is recorded in the artifact's ``meta["retries"]``.

A failing work item is stored as a ``failed`` artifact with its category and
message, its unit stops there, and the run goes on: its status becomes
``partial``. Cancelled (Ctrl-C), the run ends as ``interrupted`` after
storing every finished item.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, cast

import anyio
import anyio.lowlevel

from evalspec.errors import EvalSpecError, ParseFailure, ProviderError
from evalspec.runtime._work import frozen_heap, grouped, lookups
from evalspec.runtime.components.base import (
    Completion,
    Judge,
    JudgeInput,
    Message,
    Metric,
    Model,
    ReduceInput,
    Request,
    ScoreInput,
)
from evalspec.runtime.keys import stage_key
from evalspec.runtime.limits import ProviderLimit, ProviderLimits, TokenBucket
from evalspec.runtime.result import Aggregator, RunResult, Usage
from evalspec.runtime.retry import RetryPolicy, call_with_retries
from evalspec.runtime.stages import STAGES, JudgeStep, Runtime
from evalspec.runtime.stores import Artifact, Store

if TYPE_CHECKING:
    from evalspec.runtime.components.judges import PairwiseJudge
    from evalspec.runtime.pipeline import Pipeline, Unit

__all__ = ["Execution", "Progress"]

log = logging.getLogger(__name__)

_ROWS_PER_WRITE = 256
# Units read and looked up together. Small, because the worker that reads a
# batch holds the event loop meanwhile and delays every waiting model call.
_LOOKUP_BATCH = 8
_UNITS_PER_CHECKPOINT = 16
_SIMPLE = (str, int, float, bool, type(None))


class Progress(Protocol):
    """Receives one call per finished work item: stage and outcome."""

    def __call__(self, stage: str, outcome: str) -> None:
        """Record that a `stage` item was ``executed``, ``reused`` or ``failed``."""


class _Failed(Exception):
    """A work item failed; the unit stops and its row records why."""


@dataclass(frozen=True, slots=True)
class _Gate:
    """What a call to one provider from one stage must pass before it starts."""

    limiters: tuple[anyio.CapacityLimiter, ...]
    bucket: TokenBucket | None

    @property
    def waits(self) -> bool:
        """Return whether a call may have to wait at this gate."""
        return bool(self.limiters) or self.bucket is not None


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
        self.run_id = pipeline.run_id
        self.counts = {s: {"executed": 0, "reused": 0, "failed": 0} for s in STAGES}
        cutoff = pipeline.cutoff
        self.reuse = {
            s: cutoff is None or STAGES.index(s) < STAGES.index(cutoff) for s in STAGES
        }
        self.workers = max(1, runtime.concurrency)
        self.limits = ProviderLimits(
            ProviderLimit(concurrency=self.workers, rate_per_minute=runtime.rate),
            {
                name: (
                    ProviderLimit(concurrency=limit, rate_per_minute=runtime.rate)
                    if isinstance(limit, int)
                    else limit
                )
                for name, limit in runtime.providers.items()
            },
        )
        self.stage_limits = {
            stage: anyio.CapacityLimiter(n)
            for stage, n in runtime.stage_concurrency.items()
        }
        self.gates: dict[tuple[str, str], _Gate] = {}
        self.policy = RetryPolicy(attempts=runtime.retries + 1)
        self.rng = random.Random()
        self.aggregator = Aggregator(
            multi_subject=len(pipeline.generate.subjects) > 1,
            judges=[step.name for step in pipeline.pointwise],
            subjects=[subject.name for subject in pipeline.generate.subjects],
        )
        self.usage = Usage()
        self.rows: list[dict[str, Any]] = []
        self.attempt = 0

    async def run(self, units: Iterable[Unit]) -> RunResult:
        """Execute every unit and return the run's result."""
        pipeline = self.pipeline
        self.attempt = self.store.begin_run(
            self.run_id, pipeline.experiment, pipeline.cutoff, _snapshot(pipeline)
        )
        work = grouped(
            lookups(units, self.store, _LOOKUP_BATCH), bool(pipeline.pairwise)
        )
        status = "interrupted"
        try:
            with frozen_heap(), _unwrapped():
                async with anyio.create_task_group() as group:
                    for _ in range(self.workers):
                        group.start_soon(self._worker, work)
            status = self._status()
        finally:
            # Finished work must reach the store even when the run is cancelled.
            with anyio.CancelScope(shield=True):
                self._write_rows()
                metrics = self.aggregator.metrics()
                self.store.end_run(self.attempt, status, self.counts, metrics)
                self.store.flush()

        return RunResult(
            run_id=self.run_id,
            experiment=pipeline.experiment,
            status=status,
            stages=self.counts,
            metrics=metrics,
            comparisons=self.aggregator.comparisons(),
            agreement=self.aggregator.agreement(),
            usage=self.usage.summary(),
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

    async def _worker(
        self, work: Iterator[list[tuple[Unit, Mapping[str, Artifact]]]]
    ) -> None:
        for done, group in enumerate(work, 1):
            if len(group) == 1:
                rows = [await self._unit(*group[0])]
            else:
                rows = await self._case(group)
                await self._pairwise([unit for unit, _ in group], rows)
            self.rows.extend(rows)
            if len(self.rows) >= _ROWS_PER_WRITE:
                self._write_rows()
            # Units whose work never waits must still let other tasks run and
            # a cancellation in. Not after every unit: an extra yield per unit
            # delays every waiting model call behind a longer ready queue.
            if done % _UNITS_PER_CHECKPOINT == 0:
                await anyio.lowlevel.checkpoint()

    def _write_rows(self) -> None:
        if self.rows:
            self.store.put_rows(self.attempt, self.rows)
            self.rows = []

    # -- one unit -----------------------------------------------------------------

    async def _case(
        self, group: list[tuple[Unit, Mapping[str, Artifact]]]
    ) -> list[dict[str, Any]]:
        """Carry every subject's unit of one case at once; return their rows."""
        rows: list[dict[str, Any]] = [{} for _ in group]

        async def one(index: int) -> None:
            rows[index] = await self._unit(*group[index])

        async with anyio.create_task_group() as tasks:
            for index in range(len(group)):
                tasks.start_soon(one, index)

        return rows

    async def _unit(self, unit: Unit, stored: Mapping[str, Artifact]) -> dict[str, Any]:
        """Carry `unit` through every stage; return its result row."""
        row = _row(unit)
        try:
            await self._run_unit(unit, stored, row)
        except _Failed:
            pass
        else:
            self.aggregator.units_ok += 1

        return row

    async def _run_unit(
        self, unit: Unit, stored: Mapping[str, Artifact], row: dict[str, Any]
    ) -> None:
        pipeline = self.pipeline
        fields = unit.case.fields
        candidates = await self._generate(unit, stored, row)
        row["candidates"] = candidates

        def reduce() -> Any:
            item = ReduceInput(candidates, fields, pipeline.parse.parse)
            return pipeline.reduce.reduce(item)

        reduced = self._sync("reduce", unit.keys.reduce, stored, row, reduce)
        row["reduced"] = reduced
        outcome = self._sync(
            "parse",
            unit.keys.parse,
            stored,
            row,
            lambda: _parse(pipeline.parse, reduced),
        )
        parsed, error = outcome.get("value"), outcome.get("error")
        row["parsed"], row["parse_error"] = parsed, error
        item = ScoreInput(parsed, reduced, candidates, fields, error)
        failed = False
        for metric in pipeline.score:
            try:
                value = self._sync(
                    "score",
                    unit.keys.score[metric.name],
                    stored,
                    row,
                    partial(_score, metric, item),
                )
            except _Failed:
                failed = True
                continue
            row["scores"][metric.name] = value
            self.aggregator.add(unit.subject.name, metric.name, unit.case, value)
        for step in pipeline.pointwise:
            try:
                judgment = await self._judge(unit, step, stored, row)
            except _Failed:
                failed = True
                continue
            row["judgments"][step.name] = judgment
            if judgment.get("score") is not None:
                score = judgment["score"]
                self.aggregator.add(unit.subject.name, step.name, unit.case, score)
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
            if self._reusable(artifact, "generate"):
                texts[index] = artifact.value["text"]
                self._count("generate", "reused")
            else:
                missing.append(index)
        try:
            messages = unit.subject.prompt.render(unit.case.fields)
        except Exception as exc:  # a template error belongs to this case only
            if missing:
                error = {"category": "prompt", "message": _describe(exc)}
                for index in missing:
                    self._fail("generate", keys[index], error, row)
                raise _Failed from None
            messages = ()
        row["prompt"] = "\n\n".join(m.content for m in messages)
        if len(missing) == 1:
            await self._sample(unit, messages, missing[0], texts, row)
        elif missing:
            async with anyio.create_task_group() as group:
                for index in missing:
                    group.start_soon(self._sample, unit, messages, index, texts, row)
        done = [text for text in texts if text is not None]
        if len(done) < len(texts):
            raise _Failed

        return done

    async def _sample(
        self,
        unit: Unit,
        messages: tuple[Message, ...],
        index: int,
        texts: list[str | None],
        row: dict[str, Any],
    ) -> None:
        request = Request(messages, unit.case.fields, index, self.pipeline.seed)
        key = unit.keys.generate[index]
        try:
            model = unit.subject.name.partition("/")[0]
            completion, retries = await self._call(
                unit.subject.model, request, "generate", model
            )
        except _Failed as failure:
            self._fail("generate", key, failure.args[0], row)
            return
        usage = completion.usage
        value = {
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "usage": dict(usage) if usage else None,
            "latency": completion.latency,
        }
        meta = {"retries": retries} if retries else {}
        self.store.put(Artifact(key, "generate", self.run_id, "ok", value, None, meta))
        self._count("generate", "executed")
        texts[index] = completion.text

    async def _call(
        self, model: Model, request: Request, stage: str, label: str
    ) -> tuple[Completion, list[dict[str, Any]]]:
        """Call `model` within its limits, retrying retryable failures.

        A successful call counts towards the run's usage under `label`.
        """
        gate = self._gate(model.provider, stage)
        timeout = self.runtime.timeout

        async def attempt() -> Completion:
            held = await _enter(gate) if gate.waits else ()
            try:
                if timeout is None:
                    return await model.complete(request)
                with anyio.fail_after(timeout):
                    return await model.complete(request)
            finally:
                for limiter in held:
                    limiter.release()

        started = time.perf_counter()
        try:
            completion, retries = await call_with_retries(
                attempt, self.policy, rng=self.rng
            )
        except ProviderError as exc:
            error = {**exc.to_json(), "retries": getattr(exc, "retries", [])}
            raise _Failed(error) from None
        except TimeoutError as exc:
            message = f"no answer within {timeout} s"
            error = {
                "category": "timeout",
                "message": message,
                "retries": getattr(exc, "retries", []),
            }
            raise _Failed(error) from None
        except Exception as exc:  # a failing model is recorded on its work item
            raise _Failed({"category": "model", "message": _describe(exc)}) from None
        waited = time.perf_counter() - started
        self.usage.record(stage, label, completion, waited)

        return completion, retries

    def _gate(self, provider: str, stage: str) -> _Gate:
        """Return the limits a `stage` call to `provider` passes, made once."""
        gate = self.gates.get((provider, stage))
        if gate is not None:
            return gate
        limiters = []
        limit = self.limits.limit(provider)
        # A provider cap no lower than the calls the workers can have in
        # flight never makes a call wait; skipping it saves a task switch.
        in_flight = self.workers * max(1, self.pipeline.generate.samples)
        if limit.concurrency < in_flight:
            limiters.append(self.limits.limiter(provider))
        if stage in self.stage_limits:
            limiters.append(self.stage_limits[stage])
        gate = _Gate(tuple(limiters), self.limits.bucket(provider))
        self.gates[(provider, stage)] = gate

        return gate

    async def _judge(
        self,
        unit: Unit,
        step: JudgeStep,
        stored: Mapping[str, Artifact],
        row: dict[str, Any],
    ) -> dict[str, Any]:
        key = unit.keys.judge[step.name]
        artifact = stored.get(key)
        if self._reusable(artifact, "judge"):
            self._count("judge", "reused")
            return dict(artifact.value)
        fields = unit.case.fields
        judge = step.judge
        judge_input = _judge_input(row)
        try:
            prompt = judge.render(judge_input)
            extra = _request_extra(judge, judge_input)
        except Exception as exc:  # a judge that cannot render fails this item only
            self._fail("judge", key, _component_error(exc), row)
            raise _Failed from None
        request = Request(
            (Message("user", prompt),), fields, 0, self.pipeline.seed, extra
        )
        try:
            completion, retries = await self._call(
                step.model, request, "judge", step.name
            )
        except _Failed as failure:
            self._fail("judge", key, failure.args[0], row)
            raise
        verdict, score, reasoning, error = judge.read(completion.text)
        value = {
            "score": score,
            "verdict": _plain(verdict),
            "reasoning": reasoning,
            "prompt": prompt,
            "raw": completion.text,
            "error": error,
        }
        meta = {"retries": retries} if retries else {}
        self.store.put(Artifact(key, "judge", self.run_id, "ok", value, None, meta))
        self._count("judge", "executed")

        return value

    async def _pairwise(self, units: list[Unit], rows: list[dict[str, Any]]) -> None:
        """Compare each subject's answer to one case with the baseline subject's."""
        answered = {
            unit.subject.name: (unit, row)
            for unit, row in zip(units, rows, strict=True)
            if row["reduced"] is not None
        }
        for step in self.pipeline.pairwise:
            baseline = _pair_judge(step).params.baseline or units[0].subject.name
            if baseline not in answered:
                continue
            base = answered[baseline]
            for name, pair in answered.items():
                if name == baseline:
                    continue
                try:
                    judgment = await self._compare(step, base, pair)
                except _Failed:
                    continue
                pair[1]["judgments"][step.name] = judgment
                if judgment["score"] is not None:
                    unit = pair[0]
                    score = judgment["score"]
                    self.aggregator.add(name, step.name, unit.case, score)

    async def _compare(
        self,
        step: JudgeStep,
        base: tuple[Unit, dict[str, Any]],
        pair: tuple[Unit, dict[str, Any]],
    ) -> dict[str, Any]:
        """Judge `pair`'s answer against `base`'s in both orders; store the result."""
        (base_unit, base_row), (unit, row) = base, pair
        key = stage_key(
            "judge", step.fingerprint, base_unit.keys.parse, unit.keys.parse
        )
        artifact = self.store.get([key]).get(key)
        if self._reusable(artifact, "judge"):
            self._count("judge", "reused")
            return dict(artifact.value)
        mine, theirs = _judge_input(row), _judge_input(base_row)
        orders = []
        for first, second in ((mine, theirs), (theirs, mine)):
            orders.append(await self._order(step, key, row, first, second))
        forward, backward = orders[0]["score"], orders[1]["score"]
        flipped = None if backward is None else 1.0 - backward
        value = {
            "score": _pair_judge(step).combine(forward, flipped),
            "verdict": [orders[0]["verdict"], orders[1]["verdict"]],
            "reasoning": "\n\n".join(o["reasoning"] for o in orders),
            "prompt": orders[0]["prompt"],
            "raw": orders[0]["raw"],
            "error": orders[0]["error"] or orders[1]["error"],
            "baseline": base_unit.subject.name,
            "orders": orders,
        }
        self.store.put(Artifact(key, "judge", self.run_id, "ok", value))
        self._count("judge", "executed")

        return value

    async def _order(
        self,
        step: JudgeStep,
        key: str,
        row: dict[str, Any],
        first: JudgeInput,
        second: JudgeInput,
    ) -> dict[str, Any]:
        """Ask the judge model to compare `first` (A) with `second` (B)."""
        judge = _pair_judge(step)
        try:
            prompt = judge.render_pair(first, second)
        except Exception as exc:  # a judge that cannot render fails this item only
            self._fail("judge", key, _component_error(exc), row)
            raise _Failed from None
        reference = judge.params.reference
        extra = {
            "pairwise": True,
            "responses": [first.response, second.response],
            "reference": first.case.get(reference) if reference else None,
        }
        request = Request(
            (Message("user", prompt),), first.case, 0, self.pipeline.seed, extra
        )
        try:
            completion, _ = await self._call(step.model, request, "judge", step.name)
        except _Failed as failure:
            self._fail("judge", key, failure.args[0], row)
            raise
        verdict, score, reasoning, error = judge.read(completion.text)

        return {
            "score": score,
            "verdict": verdict,
            "reasoning": reasoning,
            "prompt": prompt,
            "raw": completion.text,
            "error": error,
        }

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
        if self._reusable(artifact, stage):
            self._count(stage, "reused")
            return artifact.value
        try:
            value = _plain(compute())
        except Exception as exc:  # a crashing component fails this item only
            self._fail(stage, key, _component_error(exc), row)
            raise _Failed from None
        self.store.put(Artifact(key, stage, self.run_id, "ok", value))
        self._count(stage, "executed")

        return value

    def _reusable(self, artifact: Artifact | None, stage: str) -> TypeGuard[Artifact]:
        """Return whether `artifact` stands for this run's `stage` work item."""
        return self.reuse[stage] and artifact is not None and artifact.status == "ok"

    def _fail(
        self, stage: str, key: str, error: Mapping[str, Any], row: dict[str, Any]
    ) -> None:
        self.store.put(Artifact(key, stage, self.run_id, "failed", error=dict(error)))
        self._count(stage, "failed")
        category, message = error.get("category"), error.get("message")
        row["errors"].append({"stage": stage, "category": category, "message": message})
        log.debug("%s failed for %s: %s", stage, row["case_id"], message)

    def _count(self, stage: str, outcome: str) -> None:
        self.counts[stage][outcome] += 1
        if self.progress is not None:
            self.progress(stage, outcome)


@contextmanager
def _unwrapped() -> Iterator[None]:
    """Re-raise an evalspec error that a worker raised as itself, not in a group.

    Workers share the stream of cases, so an error reading them (a malformed
    data file) reaches every caller as an exception group; a user should
    see the one clear message.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        errors = _leaves(group)
        first = next((e for e in errors if isinstance(e, EvalSpecError)), None)
        if first is not None and all(
            isinstance(e, EvalSpecError | anyio.get_cancelled_exc_class())
            for e in errors
        ):
            raise first from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """Return the exceptions inside `group` and its nested groups."""
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves += _leaves(exc)
        else:
            leaves.append(exc)

    return leaves


def _pair_judge(step: JudgeStep) -> PairwiseJudge:
    """Return the step's judge as the pairwise judge it is."""
    return cast("PairwiseJudge", step.judge)


def _judge_input(row: Mapping[str, Any]) -> JudgeInput:
    """Return what a judge sees of one subject's answer, from its result row."""
    reduced = row["reduced"]
    response = reduced[0] if isinstance(reduced, list) and reduced else reduced

    return JudgeInput(str(response), row["parsed"], row["inputs"], row["prompt"])


async def _enter(gate: _Gate) -> list[anyio.CapacityLimiter]:
    """Pass `gate`: take its slots and a rate token; return the slots held."""
    held: list[anyio.CapacityLimiter] = []
    try:
        for limiter in gate.limiters:
            try:
                limiter.acquire_nowait()
            except anyio.WouldBlock:
                await limiter.acquire()
            held.append(limiter)
        if gate.bucket is not None:
            await gate.bucket.acquire()
    except BaseException:
        for limiter in held:
            limiter.release()
        raise

    return held


def _request_extra(judge: Judge, item: JudgeInput) -> dict[str, Any]:
    """Return what the judge model receives as `Request.extra` for `item`."""
    request_extra = getattr(judge, "request_extra", None)
    if request_extra is None:
        return {"response": item.response}
    extra: dict[str, Any] = request_extra(item)

    return extra


def _row(unit: Unit) -> dict[str, Any]:
    """Return the empty result row of `unit`."""
    case = unit.case

    return {
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


def _score(metric: Metric, item: ScoreInput) -> float:
    return float(metric.score(item))


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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _component_error(exc: BaseException) -> dict[str, str]:
    return {"category": "component", "message": _describe(exc)}


def _plain(value: Any) -> Any:
    """Return `value` as it reads back from a store (tuples become lists).

    Strings, numbers, lists and string-keyed dicts of them are rebuilt
    directly; anything else takes a JSON round trip.
    """
    if isinstance(value, _SIMPLE):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {k: _plain(v) for k, v in value.items()}

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Return the pipeline's snapshot as a dict (empty when it has none)."""
    snapshot = pipeline.snapshot
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
