"""Per-provider limits: token-bucket request rates and concurrency slots."""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from evalspec.errors import UsageError
from evalspec.runtime.limits import ProviderLimit, ProviderLimits, TokenBucket


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def bucket_on(clock: FakeClock, rate: float, burst: int | None = None) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


@pytest.mark.anyio
async def test_bucket_spaces_requests_at_its_rate() -> None:
    """60 a minute with no burst: the first token is free, then one a second."""
    clock = FakeClock()
    bucket = bucket_on(clock, 60)

    for _ in range(5):
        await bucket.acquire()

    assert clock.now - 100.0 == pytest.approx(4.0)
    assert clock.sleeps == pytest.approx([1.0] * 4)


@pytest.mark.anyio
async def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, 120, burst=3)

    for _ in range(5):
        await bucket.acquire()

    assert clock.sleeps == pytest.approx([0.5, 0.5])


@pytest.mark.anyio
async def test_bucket_refills_no_further_than_its_burst() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, 60, burst=2)
    await bucket.acquire()
    await bucket.acquire()

    clock.now += 1000
    assert bucket.tokens == 2.0

    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == pytest.approx([1.0])


@pytest.mark.anyio
async def test_bucket_serves_waiters_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = bucket_on(clock, 60)
    served: list[int] = []

    async def take(index: int) -> None:
        await bucket.acquire()
        served.append(index)

    async with anyio.create_task_group() as group:
        for index in range(6):
            group.start_soon(take, index)
            await anyio.lowlevel.checkpoint()

    assert served == list(range(6))
    assert clock.now - 100.0 == pytest.approx(5.0)


@pytest.mark.anyio
async def test_bucket_waits_in_real_time() -> None:
    """6000 a minute is one token every 10 ms; ten extra tokens take ~0.1 s."""
    bucket = TokenBucket(6000)
    started = time.monotonic()

    for _ in range(11):
        await bucket.acquire()

    assert 0.09 <= time.monotonic() - started < 0.5


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-5, None), (60, 0)])
def test_bucket_rejects_impossible_settings(rate: float, burst: int | None) -> None:
    with pytest.raises(UsageError, match="TokenBucket"):
        TokenBucket(rate, burst)


@pytest.mark.anyio
async def test_slot_caps_concurrent_calls() -> None:
    limits = ProviderLimits(ProviderLimit(concurrency=3))
    in_flight = 0
    peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        async with limits.slot("openai:localhost:8000"):
            in_flight += 1
            peak = max(peak, in_flight)
            await anyio.sleep(0.01)
            in_flight -= 1

    async with anyio.create_task_group() as group:
        for _ in range(12):
            group.start_soon(call)

    assert peak == 3


@pytest.mark.anyio
async def test_slot_takes_a_rate_token() -> None:
    clock = FakeClock()
    limit = ProviderLimit(concurrency=4, rate_per_minute=30)
    limits = ProviderLimits(limit, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        async with limits.slot("openai"):
            pass

    assert clock.sleeps == pytest.approx([2.0, 2.0])


@pytest.mark.anyio
async def test_providers_have_separate_slots() -> None:
    limits = ProviderLimits(ProviderLimit(concurrency=1))

    with anyio.fail_after(1):
        async with limits.slot("openai:a:1"), limits.slot("openai:b:2"):
            pass

    assert limits.limiter("openai:a:1") is not limits.limiter("openai:b:2")


def test_limit_is_found_by_full_name_then_family_then_default() -> None:
    exact = ProviderLimit(concurrency=2)
    family = ProviderLimit(concurrency=5)
    limits = ProviderLimits(
        ProviderLimit(concurrency=9),
        {"openai:localhost:8000": exact, "openai": family},
    )

    assert limits.limit("openai:localhost:8000") is exact
    assert limits.limit("openai:api.openai.com") is family
    assert limits.limit("noisy_oracle").concurrency == 9
    assert limits.bucket("noisy_oracle") is None


@pytest.mark.parametrize(
    "fields",
    [{"concurrency": 0}, {"rate_per_minute": 0.0}, {"burst": 0}],
)
def test_provider_limit_rejects_impossible_settings(fields: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="ProviderLimit"):
        ProviderLimit(**fields)
