"""Retrying provider calls: backoff, cap, jitter, Retry-After and records.

No test waits: `call_with_retries` is given a sleep that records its delays.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from evalspec.errors import ProviderError, UsageError
from evalspec.runtime.retry import RetryPolicy, call_with_retries


class FakeSleep:
    """A sleep that returns at once and remembers what it was asked."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def flaky(
    *errors: BaseException, result: str = "done"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """Return a call that raises `errors` one per try, then returns `result`."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return call, calls


def server_error(retry_after: float | None = None) -> ProviderError:
    return ProviderError(
        "HTTP 500", category="server", retryable=True, retry_after=retry_after
    )


def exact(**overrides: Any) -> RetryPolicy:
    """Return a policy without jitter, so delays are exact."""
    return RetryPolicy(**{"jitter": 0.0, **overrides})


@pytest.mark.anyio
async def test_backoff_doubles_with_each_retry() -> None:
    sleep = FakeSleep()
    call, calls = flaky(*[server_error()] * 4)

    result, retries = await call_with_retries(call, exact(base_delay=0.5), sleep=sleep)

    assert result == "done"
    assert len(calls) == 5
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0]
    assert [r["delay"] for r in retries] == sleep.delays


@pytest.mark.anyio
async def test_backoff_is_capped_at_max_delay() -> None:
    sleep = FakeSleep()
    call, _ = flaky(*[server_error()] * 5)
    policy = exact(attempts=6, base_delay=1.0, max_delay=3.0)

    await call_with_retries(call, policy, sleep=sleep)

    assert sleep.delays == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("jitter", [1.0, 0.25])
def test_jitter_stays_within_its_fraction_of_the_backoff(jitter: float) -> None:
    """Jitter f draws each delay from [(1 - f) * backoff, backoff]."""
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=jitter)
    rng = random.Random(3)
    delays = [policy.backoff(3, rng) for _ in range(2000)]

    assert min(delays) >= (1 - jitter) * 4.0
    assert max(delays) <= 4.0
    assert max(delays) - min(delays) > 0.9 * jitter * 4.0


@pytest.mark.anyio
async def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    def run() -> Awaitable[tuple[str, list[dict[str, Any]]]]:
        call, _ = flaky(*[server_error()] * 3)
        return call_with_retries(call, sleep=FakeSleep(), rng=random.Random(11))

    (_, first), (_, second) = await run(), await run()

    assert first == second


@pytest.mark.anyio
async def test_retry_after_is_a_floor_on_the_delay() -> None:
    """The provider's Retry-After wins over a shorter backoff, even past the cap."""
    sleep = FakeSleep()
    call, _ = flaky(server_error(retry_after=7.0), server_error(retry_after=0.1))
    policy = exact(base_delay=0.5, max_delay=5.0)

    await call_with_retries(call, policy, sleep=sleep)

    assert sleep.delays == [7.0, 1.0]


@pytest.mark.anyio
async def test_non_retryable_error_is_raised_at_once() -> None:
    sleep = FakeSleep()
    auth = ProviderError("HTTP 401", category="auth", retryable=False, status=401)
    call, calls = flaky(auth)

    with pytest.raises(ProviderError) as caught:
        await call_with_retries(call, sleep=sleep)

    assert caught.value is auth
    assert caught.value.retries == []  # type: ignore[attr-defined]
    assert (calls, sleep.delays) == ([1], [])


@pytest.mark.anyio
async def test_other_exceptions_propagate_at_once() -> None:
    sleep = FakeSleep()
    call, calls = flaky(KeyError("bug"))

    with pytest.raises(KeyError):
        await call_with_retries(call, sleep=sleep)

    assert (calls, sleep.delays) == ([1], [])


@pytest.mark.anyio
async def test_timeout_error_is_retried() -> None:
    sleep = FakeSleep()
    call, _ = flaky(TimeoutError())

    result, retries = await call_with_retries(call, exact(), sleep=sleep)

    assert result == "done"
    assert retries == [{"attempt": 1, "delay": 0.5, "reason": "timeout: timed out"}]


@pytest.mark.anyio
async def test_last_error_carries_every_retry_record() -> None:
    """After the last try the error is re-raised with the records of the others."""
    sleep = FakeSleep()
    seen: list[dict[str, Any]] = []
    errors = [server_error() for _ in range(3)]
    call, calls = flaky(*errors)

    with pytest.raises(ProviderError) as caught:
        await call_with_retries(
            call, exact(attempts=3), on_retry=seen.append, sleep=sleep
        )

    assert caught.value is errors[-1]
    assert len(calls) == 3
    records = caught.value.retries  # type: ignore[attr-defined]
    assert records == seen
    assert [r["attempt"] for r in records] == [1, 2]
    assert all(r["reason"] == "server: HTTP 500" for r in records)


@pytest.mark.anyio
async def test_error_after_retries_keeps_their_records() -> None:
    """A non-retryable error after retryable ones still reports the retries."""
    auth = ProviderError("HTTP 401", category="auth", retryable=False)
    call, _ = flaky(server_error(), auth)

    with pytest.raises(ProviderError) as caught:
        await call_with_retries(call, exact(), sleep=FakeSleep())

    assert len(caught.value.retries) == 1  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_one_attempt_never_retries() -> None:
    call, calls = flaky(server_error())

    with pytest.raises(ProviderError):
        await call_with_retries(call, RetryPolicy(attempts=1), sleep=FakeSleep())

    assert calls == [1]


@pytest.mark.parametrize(
    "fields",
    [{"attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"jitter": 1.5}],
)
def test_policy_rejects_impossible_settings(fields: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="RetryPolicy"):
        RetryPolicy(**fields)


def test_backoff_survives_huge_retry_numbers() -> None:
    policy = RetryPolicy(max_delay=30.0, jitter=0.0)

    assert policy.backoff(10_000, random.Random(0)) == 30.0
