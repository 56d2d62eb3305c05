"""Estimates and intervals for a run's scores.

A metric's scores over a subject's cases are summarised by their mean and a
confidence interval: the Wilson score interval when every score is 0 or 1,
else a percentile bootstrap. Two subjects are compared on the cases they share
by the mean paired difference, a paired-bootstrap interval for it, and a
sign-flip permutation test.

Every random draw comes from a numpy generator seeded by the caller, so the
same inputs, seed and numpy version give the same numbers on every machine.
Resampling is vectorised: values with few distinct levels (pass/fail, a 1-5
scale) are resampled through multinomial counts over the levels, which is
exact and independent of the number of cases; other values through blocks of
index draws, spread over a few threads because numpy releases the GIL while
drawing and gathering.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from evalspec.errors import UsageError

__all__ = [
    "Comparison",
    "Summary",
    "bootstrap_interval",
    "paired_comparison",
    "summarize",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]
#: Scores as a sequence or a numpy array of numbers.
Values = Sequence[float] | npt.NDArray[Any]
SeedLike = int | np.random.SeedSequence

# Bootstrap resamples behind a summary's interval.
_RESAMPLES = 2000
# Up to this many distinct values, resampling draws counts over the values
# instead of indices into them.
_FEW_LEVELS = 64
# Random draws are made in blocks of about this many elements, small enough to
# stay in cache and large enough to amortise numpy's per-call cost.
_BLOCK_ELEMENTS = 1 << 19
# Below this many index draws in all, threads cost more than they save.
_THREADED_ELEMENTS = 1 << 24
_MAX_THREADS = 4
# Exact enumeration of sign flips up to this many non-zero differences.
_EXACT_FLIPS = 16
# Permutation statistics within this fraction of the total absolute difference
# of the observed one count as ties, so float rounding cannot hide them.
_TIE_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True)
class Summary:
    """The mean of one metric's scores and a confidence interval for it.

    With no values every number is NaN and `method` is ``"none"``. With one
    value, `stderr` is NaN, and so is a bootstrap interval, because a single
    value shows no spread to resample; a Wilson interval is still defined.
    """

    mean: float
    n: int
    #: Standard error of the mean: sample standard deviation over sqrt(n).
    stderr: float
    ci_low: float
    ci_high: float
    method: Literal["wilson", "bootstrap", "none"]

    def to_json(self) -> dict[str, Any]:
        """Return the summary as JSON-safe fields, NaN written as None."""
        return {
            "mean": _finite_or_none(self.mean),
            "n": self.n,
            "stderr": _finite_or_none(self.stderr),
            "ci_low": _finite_or_none(self.ci_low),
            "ci_high": _finite_or_none(self.ci_high),
            "method": self.method,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """A subject's mean paired difference from a baseline, over shared cases.

    With no shared cases every number is NaN. With one, the interval is NaN,
    as for any bootstrap of a single value, and the p-value is 1.
    """

    #: Mean of subject minus baseline over the shared cases.
    diff: float
    n: int
    ci_low: float
    ci_high: float
    #: Two-sided p-value of the sign-flip permutation test.
    p_value: float
    ci_method: Literal["paired-bootstrap"]
    test_method: Literal["sign-flip-exact", "sign-flip-monte-carlo"]

    @property
    def method(self) -> str:
        """Return both method names, as reports show them."""
        return f"{self.ci_method}, {self.test_method}"

    def to_json(self) -> dict[str, Any]:
        """Return the comparison as JSON-safe fields, NaN written as None."""
        return {
            "n": self.n,
            "diff": _finite_or_none(self.diff),
            "ci_low": _finite_or_none(self.ci_low),
            "ci_high": _finite_or_none(self.ci_high),
            "p_value": _finite_or_none(self.p_value),
            "method": self.method,
        }


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Return the Wilson score interval for `successes` out of `n` trials.

    With no trials there is nothing to estimate and both bounds are NaN.
    """
    z = _z(confidence)
    if not 0 <= successes <= n:
        msg = f"successes must lie between 0 and n={n}, got {successes}."
        raise UsageError(msg)
    if n == 0:
        return math.nan, math.nan

    p = successes / n
    shrink = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / shrink
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / shrink

    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    values: Values,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile-bootstrap interval for the mean of `values`.

    Fewer than two values show no spread to resample: both bounds are NaN.
    Values that are all equal give that value as both bounds.
    """
    _check_confidence(confidence)
    _check_resamples(resamples)

    return _percentile_interval(_as_values(values), confidence, resamples, seed)


def summarize(values: Values, *, confidence: float = 0.95, seed: int = 0) -> Summary:
    """Return the mean of `values` with a Wilson or bootstrap interval.

    Scores that are all 0 or 1 are proportions and get the Wilson interval;
    any other scores get a percentile bootstrap seeded by `seed`.
    """
    _check_confidence(confidence)
    data = _as_values(values)
    n = int(data.size)
    if n == 0:
        return Summary(math.nan, 0, math.nan, math.nan, math.nan, "none")

    mean = float(data.mean())
    stderr = float(data.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if np.all((data == 0) | (data == 1)):
        low, high = wilson_interval(int(data.sum()), n, confidence)
        return Summary(mean, n, stderr, low, high, "wilson")
    low, high = _percentile_interval(data, confidence, _RESAMPLES, seed)

    return Summary(mean, n, stderr, low, high, "bootstrap")


def paired_comparison(
    baseline: Mapping[str, float],
    subject: Mapping[str, float],
    *,
    confidence: float = 0.95,
    resamples: int = 10000,
    seed: int = 0,
) -> Comparison:
    """Compare `subject` with `baseline` on the case ids both have scores for.

    The difference is subject minus baseline. Its interval resamples cases, so
    each case keeps both of its scores; its p-value comes from flipping the
    sign of each case's difference, enumerating every flip when at most 16
    differences are non-zero (zeros do not change the distribution) and
    drawing `resamples` random flips otherwise.
    """
    _check_confidence(confidence)
    _check_resamples(resamples)
    shared = sorted(baseline.keys() & subject.keys())
    diffs = _as_values([subject[case] - baseline[case] for case in shared])
    nonzero = diffs[diffs != 0]
    interval_seed, flip_seed = np.random.SeedSequence(seed).spawn(2)

    low, high = _percentile_interval(diffs, confidence, resamples, interval_seed)
    if diffs.size == 0:
        diff = p_value = math.nan
    else:
        diff = float(diffs.mean())
        p_value = _sign_flip_p_value(nonzero, resamples, flip_seed)

    return Comparison(
        diff=diff,
        n=int(diffs.size),
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        ci_method="paired-bootstrap",
        test_method=(
            "sign-flip-exact"
            if nonzero.size <= _EXACT_FLIPS
            else "sign-flip-monte-carlo"
        ),
    )


def _percentile_interval(
    data: FloatArray, confidence: float, resamples: int, seed: SeedLike
) -> tuple[float, float]:
    """Return the percentile-bootstrap interval for the mean of `data`."""
    alpha = 1 - confidence
    if data.size < 2:
        return math.nan, math.nan
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])

    means = _resample_means(data, resamples, seed)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])

    return float(low), float(high)


def _resample_means(data: FloatArray, resamples: int, seed: SeedLike) -> FloatArray:
    """Return the means of `resamples` bootstrap resamples of `data`."""
    levels, counts = np.unique(data, return_counts=True)
    if levels.size <= _FEW_LEVELS:
        rng = np.random.default_rng(seed)
        drawn = rng.multinomial(data.size, counts / data.size, size=resamples)
        return np.asarray(drawn @ levels / data.size, dtype=np.float64)

    return _resample_means_by_index(data, resamples, seed)


def _resample_means_by_index(
    data: FloatArray, resamples: int, seed: SeedLike
) -> FloatArray:
    """Return bootstrap means drawn by index, block by block.

    Each block of resamples has its own child seed, so the result does not
    depend on how many threads fill the blocks.
    """
    n = data.size
    rows = max(1, _BLOCK_ELEMENTS // n)
    starts = range(0, resamples, rows)
    seeds = _seed_sequence(seed).spawn(len(starts))
    means = np.empty(resamples)

    def fill(start: int, block_seed: np.random.SeedSequence) -> None:
        stop = min(start + rows, resamples)
        index = np.random.default_rng(block_seed).integers(0, n, (stop - start, n))
        means[start:stop] = data.take(index).mean(axis=1)

    _run_blocks(fill, starts, seeds, total=resamples * n)

    return means


def _sign_flip_p_value(diffs: FloatArray, resamples: int, seed: SeedLike) -> float:
    """Return the two-sided sign-flip p-value of non-zero paired differences.

    The statistic is the sum of the differences, which orders sign flips
    exactly as their mean does.
    """
    if diffs.size == 0:
        return 1.0
    magnitudes = np.abs(diffs)
    tolerance = _TIE_TOLERANCE * float(magnitudes.sum())
    threshold = abs(float(diffs.sum())) - tolerance

    if diffs.size <= _EXACT_FLIPS:
        flips = np.arange(1 << diffs.size)[:, None] >> np.arange(diffs.size)
        sums = (2 * (flips & 1) - 1) @ magnitudes
        return float(np.mean(np.abs(sums) >= threshold))
    extreme = _count_extreme_flips(magnitudes, resamples, threshold, seed)

    # The observed signs count as one of the draws, so p is never zero.
    return (extreme + 1) / (resamples + 1)


def _count_extreme_flips(
    magnitudes: FloatArray, resamples: int, threshold: float, seed: SeedLike
) -> int:
    """Count random sign flips whose absolute sum reaches `threshold`."""
    rng = np.random.default_rng(seed)
    levels, counts = np.unique(magnitudes, return_counts=True)
    if levels.size <= _FEW_LEVELS:
        # Only how many differences of each size turn positive matters.
        positive = rng.binomial(counts, 0.5, size=(resamples, levels.size))
        sums = (2 * positive - counts) @ levels
        return int(np.count_nonzero(np.abs(sums) >= threshold))

    # Each random byte flips eight differences at once: its bits pick which of
    # a group of eight are positive, and a table holds all 256 group sums.
    groups = -(-magnitudes.size // 8)
    padded = np.zeros(groups * 8)
    padded[: magnitudes.size] = magnitudes
    members = (np.arange(256)[:, None] >> np.arange(8)) & 1
    table = (padded.reshape(groups, 8) @ members.T).ravel()
    offsets = np.arange(groups) * 256
    total = magnitudes.sum()

    extreme = 0
    rows = max(1, _BLOCK_ELEMENTS // groups)
    for start in range(0, resamples, rows):
        picks = rng.integers(0, 256, (min(rows, resamples - start), groups), np.uint8)
        sums = 2 * table.take(picks + offsets).sum(axis=1) - total
        extreme += int(np.count_nonzero(np.abs(sums) >= threshold))

    return extreme


def _run_blocks(
    fill: Callable[[int, np.random.SeedSequence], None],
    starts: range,
    seeds: list[np.random.SeedSequence],
    *,
    total: int,
) -> None:
    """Call `fill` for every block, on threads when the work is large."""
    threads = min(_MAX_THREADS, os.cpu_count() or 1, len(starts))
    if total < _THREADED_ELEMENTS or threads < 2:
        for start, block_seed in zip(starts, seeds, strict=True):
            fill(start, block_seed)
        return

    with ThreadPoolExecutor(threads, thread_name_prefix="evalspec-stats") as pool:
        list(pool.map(fill, starts, seeds))


def _as_values(values: Values) -> FloatArray:
    """Return `values` as a flat float array, refusing NaN and infinities."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        msg = f"values must be a flat sequence of numbers, got shape {data.shape}."
        raise UsageError(msg)
    if not np.all(np.isfinite(data)):
        msg = "values must be finite numbers; drop failed cases before summarising."
        raise UsageError(msg)

    return data


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence!r}."
        raise UsageError(msg)

    return confidence


def _check_resamples(resamples: int) -> int:
    if resamples < 1:
        msg = f"resamples must be a positive number, got {resamples!r}."
        raise UsageError(msg)

    return resamples


def _z(confidence: float) -> float:
    """Return the two-sided standard normal quantile for `confidence`."""
    return NormalDist().inv_cdf(1 - (1 - _check_confidence(confidence)) / 2)


def _seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed

    return np.random.SeedSequence(seed)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
