"""Tests for the estimates and intervals behind every metric and comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalspec.errors import UsageError
from evalspec.runtime import stats
from evalspec.runtime.stats import (
    Comparison,
    Summary,
    bootstrap_interval,
    paired_comparison,
    summarize,
    wilson_interval,
)

scipy_stats = pytest.importorskip("scipy.stats")

# Fixed data for the Monte-Carlo cross-checks: 200 distinct skewed scores in
# [0, 1], enough to be resampled by index rather than by level.
SCORES = np.random.default_rng(11).beta(2.0, 5.0, size=200)


def _paired_mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> float:
    return np.mean(x - y, axis=axis)


def _scipy_sign_flip_p(baseline: np.ndarray, subject: np.ndarray) -> float:
    result = scipy_stats.permutation_test(
        (subject, baseline),
        _paired_mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=100_000,
        alternative="two-sided",
        rng=np.random.default_rng(5),
    )

    return float(result.pvalue)


def _as_cases(values: np.ndarray) -> dict[str, float]:
    return {f"case-{i}": float(v) for i, v in enumerate(values)}


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (517, 1000)]
)
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_interval_matches_closed_form(
    successes: int, n: int, confidence: float
) -> None:
    """The interval is the Wilson score interval, with z from scipy's normal."""
    z = scipy_stats.norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))

    low, high = wilson_interval(successes, n, confidence)

    assert low == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_wilson_interval_without_trials_is_nan() -> None:
    """No trials give no estimate."""
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))


@pytest.mark.parametrize(("successes", "n"), [(-1, 3), (4, 3)])
def test_wilson_interval_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(UsageError, match="successes must lie between 0 and n"):
        wilson_interval(successes, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_intervals_reject_confidence_outside_unit_interval(confidence: float) -> None:
    with pytest.raises(UsageError, match="confidence must lie strictly between"):
        wilson_interval(1, 2, confidence)
    with pytest.raises(UsageError, match="confidence must lie strictly between"):
        bootstrap_interval([0.1, 0.2], confidence)


def test_bootstrap_interval_is_close_to_scipy_percentile() -> None:
    """Both percentile bootstraps of the same data agree to Monte-Carlo error."""
    expected = scipy_stats.bootstrap(
        (SCORES,),
        np.mean,
        method="percentile",
        n_resamples=20_000,
        rng=np.random.default_rng(3),
    ).confidence_interval
    # The bootstrap means have a spread of about the standard error; the
    # 2.5% quantile of 20 000 of them is known to a few hundredths of it.
    tolerance = 0.1 * SCORES.std(ddof=1) / math.sqrt(SCORES.size)

    low, high = bootstrap_interval(SCORES, resamples=20_000, seed=1)

    assert low == pytest.approx(expected.low, abs=tolerance)
    assert high == pytest.approx(expected.high, abs=tolerance)


def test_bootstrap_interval_of_few_levels_is_close_to_scipy_percentile() -> None:
    """A 1-5 scale, resampled through level counts, agrees with scipy too."""
    ratings = np.random.default_rng(4).integers(1, 6, size=60).astype(float)
    expected = scipy_stats.bootstrap(
        (ratings,),
        np.mean,
        method="percentile",
        n_resamples=20_000,
        rng=np.random.default_rng(3),
    ).confidence_interval
    tolerance = 0.1 * ratings.std(ddof=1) / math.sqrt(ratings.size)

    low, high = bootstrap_interval(ratings, resamples=20_000, seed=1)

    assert low == pytest.approx(expected.low, abs=tolerance)
    assert high == pytest.approx(expected.high, abs=tolerance)


def test_bootstrap_interval_is_reproducible_for_a_seed() -> None:
    assert bootstrap_interval(SCORES, seed=9) == bootstrap_interval(SCORES, seed=9)
    assert bootstrap_interval(SCORES, seed=9) != bootstrap_interval(SCORES, seed=10)


@pytest.mark.parametrize("values", [[], [0.4]])
def test_bootstrap_interval_of_fewer_than_two_values_is_nan(
    values: list[float],
) -> None:
    assert all(math.isnan(bound) for bound in bootstrap_interval(values))


def test_bootstrap_interval_of_equal_values_is_that_value() -> None:
    assert bootstrap_interval([0.3] * 25) == (0.3, 0.3)


def test_bootstrap_interval_rejects_non_finite_values() -> None:
    with pytest.raises(UsageError, match="values must be finite numbers"):
        bootstrap_interval([0.1, math.nan, 0.3])


def test_bootstrap_interval_by_index_is_reproducible_on_any_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each block of resamples has its own seed, whichever thread draws it."""
    values = np.random.default_rng(7).normal(size=20_000)
    threaded = bootstrap_interval(values, seed=5)

    monkeypatch.setattr(stats, "_MAX_THREADS", 1)

    assert bootstrap_interval(values, seed=5) == threaded
    assert bootstrap_interval(values, seed=6) != threaded


def test_summarize_binary_scores_uses_wilson() -> None:
    scores = [1, 0, 1, 1, 0, 1, 1, 1]

    summary = summarize(scores)

    assert summary.method == "wilson"
    assert summary.mean == 0.75
    assert summary.n == 8
    assert (summary.ci_low, summary.ci_high) == wilson_interval(6, 8)
    assert summary.stderr == pytest.approx(np.std(scores, ddof=1) / math.sqrt(8))


def test_summarize_other_scores_uses_seeded_bootstrap() -> None:
    summary = summarize(SCORES, seed=4)

    assert summary.method == "bootstrap"
    assert summary.mean == pytest.approx(SCORES.mean())
    assert (summary.ci_low, summary.ci_high) == bootstrap_interval(SCORES, seed=4)


def test_summarize_no_values_is_nan_with_method_none() -> None:
    summary = summarize([])

    assert summary.n == 0
    assert summary.method == "none"
    assert all(math.isnan(x) for x in (summary.mean, summary.ci_low, summary.ci_high))
    assert summary.to_json() == {
        "mean": None,
        "n": 0,
        "stderr": None,
        "ci_low": None,
        "ci_high": None,
        "method": "none",
    }


def test_summarize_one_binary_value_keeps_its_wilson_interval() -> None:
    summary = summarize([1.0])

    assert summary.mean == 1.0
    assert math.isnan(summary.stderr)
    assert (summary.ci_low, summary.ci_high) == wilson_interval(1, 1)


def test_summarize_one_other_value_has_no_interval() -> None:
    summary = summarize([0.4])

    assert (summary.mean, summary.n, summary.method) == (0.4, 1, "bootstrap")
    assert math.isnan(summary.ci_low)
    assert math.isnan(summary.ci_high)


def test_summarize_equal_values_has_zero_width_interval() -> None:
    summary = summarize([0.6] * 10)

    assert (summary.ci_low, summary.ci_high) == (0.6, 0.6)
    assert summary.stderr == pytest.approx(0.0, abs=1e-15)


def test_summary_is_frozen() -> None:
    summary = summarize([1, 0])

    with pytest.raises(AttributeError):
        summary.mean = 2.0  # type: ignore[misc]
    assert isinstance(summary, Summary)


@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        min_size=2,
        max_size=30,
    )
)
def test_bootstrap_interval_stays_within_the_values(values: list[float]) -> None:
    """A percentile interval of resample means never leaves the values' range."""
    low, high = bootstrap_interval(values, resamples=200, seed=1)

    assert min(values) - 1e-6 <= low <= high <= max(values) + 1e-6


@pytest.mark.parametrize("n", [6, 12, 16])
def test_paired_comparison_exact_p_value_matches_scipy(n: int) -> None:
    """Up to 16 differences, every sign flip is enumerated, as scipy does."""
    rng = np.random.default_rng(n)
    baseline = rng.random(n)
    subject = baseline + rng.normal(0.15, 0.3, size=n)

    comparison = paired_comparison(_as_cases(baseline), _as_cases(subject))

    assert comparison.test_method == "sign-flip-exact"
    assert comparison.p_value == pytest.approx(_scipy_sign_flip_p(baseline, subject))
    assert comparison.diff == pytest.approx(np.mean(subject - baseline))


@pytest.mark.parametrize(("n", "shift"), [(40, 0.08), (150, 0.04)])
def test_paired_comparison_monte_carlo_p_value_is_close_to_scipy(
    n: int, shift: float
) -> None:
    """Random flips agree with scipy, whether drawn per difference or per byte."""
    rng = np.random.default_rng(8)
    baseline = rng.random(n)
    subject = baseline + rng.normal(shift, 0.3, size=n)
    expected = _scipy_sign_flip_p(baseline, subject)

    comparison = paired_comparison(
        _as_cases(baseline), _as_cases(subject), resamples=50_000
    )

    assert comparison.test_method == "sign-flip-monte-carlo"
    assert 0.02 < expected < 0.5
    assert comparison.p_value == pytest.approx(expected, abs=0.01)


def test_paired_comparison_of_binary_scores_counts_flips_per_level() -> None:
    """Many pass/fail differences use binomial flip counts and agree with scipy."""
    rng = np.random.default_rng(12)
    baseline = (rng.random(200) < 0.6).astype(float)
    subject = (rng.random(200) < 0.7).astype(float)
    expected = _scipy_sign_flip_p(baseline, subject)

    comparison = paired_comparison(
        _as_cases(baseline), _as_cases(subject), resamples=50_000
    )

    assert comparison.p_value == pytest.approx(expected, abs=0.01)


def test_paired_comparison_interval_is_the_bootstrap_of_differences() -> None:
    rng = np.random.default_rng(6)
    baseline = rng.random(30)
    subject = baseline + rng.normal(0.1, 0.2, size=30)
    expected = scipy_stats.bootstrap(
        (subject - baseline,),
        np.mean,
        method="percentile",
        n_resamples=20_000,
        rng=np.random.default_rng(1),
    ).confidence_interval
    tolerance = 0.1 * np.std(subject - baseline, ddof=1) / math.sqrt(30)

    comparison = paired_comparison(
        _as_cases(baseline), _as_cases(subject), resamples=20_000
    )

    assert comparison.ci_low == pytest.approx(expected.low, abs=tolerance)
    assert comparison.ci_high == pytest.approx(expected.high, abs=tolerance)


def test_paired_comparison_uses_only_shared_cases() -> None:
    baseline = {"a": 0.0, "b": 1.0, "only-baseline": 1.0}
    subject = {"b": 1.0, "a": 1.0, "only-subject": 0.0}

    comparison = paired_comparison(baseline, subject)

    assert comparison.n == 2
    assert comparison.diff == 0.5


def test_paired_comparison_of_identical_scores_has_p_value_one() -> None:
    scores = _as_cases(SCORES)

    comparison = paired_comparison(scores, scores)

    assert (comparison.diff, comparison.p_value) == (0.0, 1.0)
    assert (comparison.ci_low, comparison.ci_high) == (0.0, 0.0)


def test_paired_comparison_without_shared_cases_is_nan() -> None:
    comparison = paired_comparison({"a": 1.0}, {"b": 1.0})

    assert comparison.n == 0
    assert all(math.isnan(x) for x in (comparison.diff, comparison.p_value))
    assert comparison.to_json()["p_value"] is None


def test_paired_comparison_of_one_case_is_not_significant() -> None:
    comparison = paired_comparison({"a": 0.0}, {"a": 1.0})

    assert (comparison.diff, comparison.n, comparison.p_value) == (1.0, 1, 1.0)
    assert math.isnan(comparison.ci_low)


def test_paired_comparison_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    baseline, subject = _as_cases(rng.random(50)), _as_cases(rng.random(50))

    first = paired_comparison(baseline, subject, seed=3)

    assert paired_comparison(baseline, subject, seed=3) == first
    assert isinstance(first, Comparison)


def test_comparison_json_names_both_methods() -> None:
    comparison = paired_comparison({"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 1.0})

    assert comparison.to_json() == {
        "n": 2,
        "diff": 0.5,
        "ci_low": comparison.ci_low,
        "ci_high": comparison.ci_high,
        "p_value": 1.0,
        "method": "paired-bootstrap, sign-flip-exact",
    }
