"""Retry provider calls with exponential backoff, jitter and Retry-After.

A call that fails with a retryable `ProviderError` (a timeout, a dropped
connection, a 429, a 5xx, a malformed body) or with `TimeoutError` is tried
again after a delay that doubles with each retry, is capped at
`RetryPolicy.max_delay`, is randomised by `RetryPolicy.jitter`, and is never
shorter than the ``Retry-After`` the provider asked for. Every retry is
recorded, so the artifact of a work item can say what it took to produce; an
error that escapes carries the records of the retries before it as `retries`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from evalspec.errors import ProviderError, UsageError

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Past 2**64 the backoff is far above any sensible cap; stopping the exponent
# there keeps the float arithmetic finite for any number of attempts.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and how patiently, a failing provider call is tried."""

    attempts: int = 5
    """Tries in all, the first included; 1 means never retry."""

    base_delay: float = 0.5
    """Backoff before the first retry, in seconds; it doubles with each retry."""

    max_delay: float = 30.0
    """Cap on the backoff; a provider's Retry-After may still ask for longer."""

    jitter: float = 1.0
    """Randomised fraction of the backoff: 0 waits the backoff exactly, 1 waits
    a uniform time between 0 and the backoff ("full jitter")."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"RetryPolicy(attempts={self.attempts}) must allow at least 1."
            raise UsageError(msg)
        if self.base_delay < 0 or self.max_delay < 0:
            msg = "RetryPolicy delays must be zero or positive seconds."
            raise UsageError(msg)
        if not 0 <= self.jitter <= 1:
            msg = f"RetryPolicy(jitter={self.jitter}) must be between 0 and 1."
            raise UsageError(msg)

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Return the jittered delay before retry number `retry` (1 is the first)."""
        exponent = min(retry - 1, _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.base_delay * 2.0**exponent)

        return ceiling * (1 - self.jitter * rng.random())


def _retryable(exc: ProviderError | TimeoutError) -> bool:
    return isinstance(exc, TimeoutError) or exc.retryable


def _reason(exc: ProviderError | TimeoutError) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.category}: {exc}"

    return f"timeout: {str(exc) or 'timed out'}"


def _delay(
    policy: RetryPolicy,
    retry: int,
    exc: ProviderError | TimeoutError,
    rng: random.Random,
) -> float:
    delay = policy.backoff(retry, rng)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, retry_after)

    return delay


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    *,
    on_retry: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    rng: random.Random | None = None,
) -> tuple[T, list[dict[str, Any]]]:
    """Return `fn()`'s result and the records of the retries it took.

    Retry a `ProviderError` whose `retryable` is set, and `TimeoutError`, up to
    `policy.attempts` tries in all; any other exception propagates at once. A
    record is ``{"attempt": n, "delay": seconds, "reason": "category: ..."}``
    for failed try `n`, and is passed to `on_retry` before the wait. The error
    that finally escapes carries every record as its `retries` attribute.
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    retries: list[dict[str, Any]] = []
    attempt = 1
    while True:
        try:
            return await fn(), retries
        except (ProviderError, TimeoutError) as exc:
            if attempt >= policy.attempts or not _retryable(exc):
                exc.retries = retries  # type: ignore[union-attr]
                raise
            delay = _delay(policy, attempt, exc, rng)
            reason = _reason(exc)

        record = {"attempt": attempt, "delay": delay, "reason": reason}
        retries.append(record)
        if on_retry is not None:
            on_retry(record)
        logger.debug("try %d failed, retrying in %.3f s: %s", attempt, delay, reason)
        await sleep(delay)
        attempt += 1
