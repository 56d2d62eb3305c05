"""Run results: per-stage counts, metric summaries, comparisons and rows."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalspec.runtime.components.base import Completion
from evalspec.runtime.datasets import Case
from evalspec.runtime.stats import paired_comparison, summarize
from evalspec.runtime.stores import Store

__all__ = ["Aggregator", "RunResult"]


class Aggregator:
    """Collect scores per (subject, metric) as a run goes, in bounded memory.

    Scores are kept as packed floats; when the matrix has several subjects,
    they are also kept per case so that subjects can be compared pairwise.
    """

    def __init__(
        self,
        multi_subject: bool,
        judges: Sequence[str] = (),
        subjects: Sequence[str] = (),
    ) -> None:
        self.multi_subject = multi_subject
        #: Subjects in matrix order; the first is the baseline of comparisons.
        self.subjects = tuple(subjects)
        #: Judges whose verdicts on the same answers are compared for agreement.
        self.judges = tuple(judges) if len(judges) > 1 else ()
        self.values: dict[tuple[str, str], array[float]] = {}
        self.by_case: dict[tuple[str, str], dict[str, float]] = {}
        self.order: list[tuple[str, str]] = []
        self.units_ok = 0

    def add(self, subject: str, metric: str, case: Case, value: float) -> None:
        """Record `value` of `metric` for `subject` on `case`."""
        key = (subject, metric)
        values = self.values.get(key)
        if values is None:
            values = self.values[key] = array("d")
            self.order.append(key)
        values.append(value)
        if self.multi_subject or metric in self.judges:
            self.by_case.setdefault(key, {})[f"{case.dataset}/{case.id}"] = value

    def metrics(self) -> list[dict[str, Any]]:
        """Return one summary row per (subject, metric), in first-seen order."""
        rows = []
        for subject, metric in sorted(self.order, key=lambda k: (k[1], k[0])):
            summary = summarize(self.values[(subject, metric)])
            rows.append({"subject": subject, "metric": metric, **summary.to_json()})

        return rows

    def agreement(self) -> list[dict[str, Any]]:
        """Return, per subject and pair of judges, how often their verdicts agree.

        Verdicts are read as pass (score ≥ 0.5) or fail; `agreement` is the
        fraction of shared cases with the same verdict and `kappa` is Cohen's
        kappa, which discounts the agreement expected by chance.
        """
        rows = []
        subjects = dict.fromkeys(s for s, _ in self.order)
        for subject in subjects:
            for i, first in enumerate(self.judges):
                for second in self.judges[i + 1 :]:
                    a = self.by_case.get((subject, first), {})
                    b = self.by_case.get((subject, second), {})
                    shared = [c for c in a if c in b]
                    pairs = [(a[c] >= 0.5, b[c] >= 0.5) for c in shared]
                    rows.append(
                        {"subject": subject, "judges": [first, second], **_kappa(pairs)}
                    )

        return rows

    def comparisons(self) -> list[dict[str, Any]]:
        """Return each subject's paired comparison with the first subject."""
        if not self.multi_subject:
            return []
        seen = dict.fromkeys(s for s, _ in self.order)
        subjects = [s for s in self.subjects if s in seen] or list(seen)
        subjects += [s for s in seen if s not in subjects]
        metrics = list(dict.fromkeys(m for _, m in self.order))
        baseline, rows = subjects[0], []
        for metric in metrics:
            base = self.by_case.get((baseline, metric), {})
            for subject in subjects[1:]:
                other = self.by_case.get((subject, metric), {})
                if not base or not other:
                    # A pairwise judge scores only the challenger: nothing to pair.
                    continue
                comparison = paired_comparison(base, other)
                rows.append(
                    {
                        "metric": metric,
                        "baseline": baseline,
                        "subject": subject,
                        **comparison.to_json(),
                    }
                )

        return rows


class Usage:
    """Count the model calls a run made, with their tokens and latency.

    Only calls made by this run count: reused work cost nothing this time.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}

    def record(
        self, stage: str, model: str, completion: Completion, waited: float
    ) -> None:
        """Count one successful call of `model` at `stage`.

        Tokens count when the provider reports them; latency is the
        provider's when it reports one, else the `waited` seconds measured.
        """
        entry = self._entries.get((stage, model))
        if entry is None:
            entry = self._entries[(stage, model)] = {
                "stage": stage,
                "model": model,
                "calls": 0,
                "prompt_tokens": None,
                "completion_tokens": None,
                "seconds": 0.0,
            }
        entry["calls"] += 1
        if completion.usage:
            for name in ("prompt_tokens", "completion_tokens"):
                entry[name] = (entry[name] or 0) + int(completion.usage.get(name) or 0)
        latency = completion.latency
        entry["seconds"] += waited if latency is None else latency

    def summary(self) -> list[dict[str, Any]]:
        """Return one row per stage and model: calls, tokens, mean latency."""
        rows = []
        for entry in self._entries.values():
            row = {k: v for k, v in entry.items() if k != "seconds"}
            row["mean_latency"] = entry["seconds"] / entry["calls"]
            rows.append(row)

        return rows


def _kappa(pairs: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """Return n, observed agreement and Cohen's kappa of paired pass/fail verdicts."""
    n = len(pairs)
    if n == 0:
        return {"n": 0, "agreement": None, "kappa": None}
    observed = sum(x == y for x, y in pairs) / n
    first = sum(x for x, _ in pairs) / n
    second = sum(y for _, y in pairs) / n
    chance = first * second + (1 - first) * (1 - second)
    kappa = 1.0 if chance == 1 else (observed - chance) / (1 - chance)

    return {"n": n, "agreement": observed, "kappa": kappa}


@dataclass
class RunResult:
    """What a run produced: status, counts, metrics, and rows in the store."""

    run_id: str
    experiment: str
    status: str
    """``completed``, ``partial`` (some items failed) or ``failed``."""
    stages: Mapping[str, Mapping[str, int]]
    metrics: Sequence[Mapping[str, Any]]
    comparisons: Sequence[Mapping[str, Any]] = ()
    agreement: Sequence[Mapping[str, Any]] = ()
    """Per subject and pair of judges: verdict agreement and Cohen's kappa."""
    usage: Sequence[Mapping[str, Any]] = ()
    """Per stage and model: calls this run made, tokens and mean latency."""
    attempt: int = 0
    cutoff: str | None = None
    store: Store | None = field(default=None, repr=False)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Yield the per-case rows: inputs, candidates, parsed, scores, judgments."""
        if self.store is None:
            return iter(())

        return self.store.rows(self.attempt)

    def summary(self) -> dict[str, Any]:
        """Return the object `evalspec run --json` prints."""
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "status": self.status,
            "cutoff": self.cutoff,
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "metrics": [dict(m) for m in self.metrics],
            "comparisons": [dict(c) for c in self.comparisons],
            "agreement": [dict(a) for a in self.agreement],
            "usage": [dict(u) for u in self.usage],
        }

    def to_json(self, rows: bool = True) -> str:
        """Return the result as JSON, with its rows unless `rows` is false."""
        data = self.summary()
        if rows:
            data["rows"] = list(self.rows())

        return json.dumps(data, indent=2, ensure_ascii=False)

    def to_records(self) -> list[dict[str, Any]]:
        """Return one flat record per case and subject, for tables."""
        records = []
        for row in self.rows():
            record = {
                "case_id": row["case_id"],
                "dataset": row.get("dataset"),
                "subject": row["subject"],
                "parsed": row["parsed"],
                "parse_error": row["parse_error"],
                **{f"score.{k}": v for k, v in row["scores"].items()},
                **{f"judge.{k}": v.get("score") for k, v in row["judgments"].items()},
                "errors": len(row["errors"]),
            }
            records.append(record)

        return records

    def to_pandas(self) -> Any:
        """Return `to_records()` as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            from evalspec.errors import UsageError

            msg = (
                "RunResult.to_pandas() needs pandas; install it with "
                "`pip install pandas`."
            )
            raise UsageError(msg) from None

        return pandas.DataFrame.from_records(self.to_records())
