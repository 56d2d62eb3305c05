"""Per-provider limits: how many calls may run at once, and how often they start.

`ProviderLimits.slot(provider)` is the one door every model call goes through:
it holds one of the provider's concurrency slots (an `anyio.CapacityLimiter`)
for the length of the call and, when the provider has a request rate, takes a
token from its `TokenBucket` before the call starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from evalspec.errors import UsageError

__all__ = ["ProviderLimit", "ProviderLimits", "TokenBucket"]

logger = logging.getLogger(__name__)


class TokenBucket:
    """A request-rate limit: `rate_per_minute` tokens a minute, `burst` at most saved.

    The bucket starts full. `acquire()` takes one token, waiting for it when
    the bucket is empty; waiters queue on a lock and are served in arrival
    order, each sleeping exactly until its token is due. `clock` (seconds,
    monotonic) and `sleep` are injectable so tests need not wait.
    """

    def __init__(
        self,
        rate_per_minute: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            msg = f"TokenBucket(rate_per_minute={rate_per_minute}) must be positive."
            raise UsageError(msg)
        if burst is not None and burst < 1:
            msg = f"TokenBucket(burst={burst}) must hold at least 1 token."
            raise UsageError(msg)
        self.rate_per_minute = rate_per_minute
        self.burst = burst or 1
        self._per_second = rate_per_minute / 60
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = clock()
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return f"TokenBucket({self.rate_per_minute:g}/min, burst={self.burst})"

    @property
    def tokens(self) -> float:
        """Return the tokens available now (fractional while refilling)."""
        self._refill()

        return self._tokens

    async def acquire(self) -> None:
        """Take one token, waiting until one is available."""
        # The lock is made on first use so that the bucket can be built
        # outside an event loop, as limits usually are.
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._per_second)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        earned = (now - self._updated) * self._per_second
        self._tokens = min(float(self.burst), self._tokens + earned)
        self._updated = now


@dataclass(frozen=True, slots=True)
class ProviderLimit:
    """The limits of one provider."""

    concurrency: int = 16
    """Calls that may be in flight at once."""

    rate_per_minute: float | None = None
    """Calls that may start per minute; None leaves the rate unlimited."""

    burst: int | None = None
    """Calls that may start back to back after a quiet spell (1 when None)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            msg = f"ProviderLimit(concurrency={self.concurrency}) must be at least 1."
            raise UsageError(msg)
        if self.rate_per_minute is not None and self.rate_per_minute <= 0:
            rate = self.rate_per_minute
            msg = f"ProviderLimit(rate_per_minute={rate}) must be positive."
            raise UsageError(msg)
        if self.burst is not None and self.burst < 1:
            msg = f"ProviderLimit(burst={self.burst}) must be at least 1."
            raise UsageError(msg)


class ProviderLimits:
    """The concurrency slots and request rates of every provider of a run.

    A provider's limit is looked up by its full name (``openai:host:8000``),
    then by the part before the first colon (``openai``), then falls back to
    `default`. Each provider name gets its own limiter and bucket, made on
    first use.
    """

    def __init__(
        self,
        default: ProviderLimit | None = None,
        per_provider: Mapping[str, ProviderLimit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    ) -> None:
        self.default = default or ProviderLimit()
        self.per_provider = dict(per_provider or {})
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._buckets: dict[str, TokenBucket | None] = {}

    def limit(self, provider: str) -> ProviderLimit:
        """Return the limit that applies to `provider`."""
        family = provider.partition(":")[0]
        found = self.per_provider.get(provider) or self.per_provider.get(family)

        return found or self.default

    def limiter(self, provider: str) -> anyio.CapacityLimiter:
        """Return the capacity limiter of `provider`, making it on first use."""
        if provider not in self._limiters:
            limit = self.limit(provider)
            self._limiters[provider] = anyio.CapacityLimiter(limit.concurrency)
            self._buckets[provider] = self._bucket(limit)
            logger.debug("limits for %s: %s", provider, limit)

        return self._limiters[provider]

    def bucket(self, provider: str) -> TokenBucket | None:
        """Return the token bucket of `provider`, or None when its rate is free."""
        self.limiter(provider)

        return self._buckets[provider]

    @asynccontextmanager
    async def slot(self, provider: str) -> AsyncIterator[None]:
        """Hold one of `provider`'s call slots, and take a rate token on entry."""
        async with self.limiter(provider):
            bucket = self._buckets[provider]
            if bucket is not None:
                await bucket.acquire()
            yield

    def _bucket(self, limit: ProviderLimit) -> TokenBucket | None:
        if limit.rate_per_minute is None:
            return None

        return TokenBucket(
            limit.rate_per_minute, limit.burst, clock=self._clock, sleep=self._sleep
        )
