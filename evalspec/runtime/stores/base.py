"""The `Store` protocol: where artifacts, run attempts and result rows live.

An *artifact* is the stored outcome of one work item, keyed by its stage key.
Every execution of a work item appends an attempt; lookups return the newest.
A *run attempt* records one execution of a runner: its run_id, the replay
cutoff, when it started and ended, its status and per-stage counts. *Rows*
are the per-case, per-subject results of a run attempt, kept so that a result
can be reopened later without the spec.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Artifact", "RunRecord", "Store"]

Status = Literal["ok", "failed"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """The outcome of one attempt at one work item.

    `value` is JSON-serialisable. `status` is ``failed`` when the work item
    raised (a provider error, a crashing component); `error` then holds
    ``{"category": ..., "message": ...}``. `meta` holds what the runtime
    observed: token usage, latency, retries as ``[{"attempt", "delay",
    "reason"}]``.
    """

    key: str
    stage: str
    run_id: str
    status: Status
    value: Any = None
    error: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One execution of a runner against a store."""

    attempt: int
    run_id: str
    experiment: str
    cutoff: str | None
    started: float
    ended: float | None = None
    status: str | None = None
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    metrics: Sequence[Mapping[str, Any]] = ()
    snapshot: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """Where a runtime keeps artifacts; `memory` and `sqlite` implement it."""

    #: A human-readable location: ``memory`` or the SQLite file path.
    location: str

    def get(self, keys: Sequence[str]) -> dict[str, Artifact]:
        """Return the newest attempt of each stored key among `keys`."""
        ...

    def put(self, artifact: Artifact) -> Artifact:
        """Append `artifact` as the key's next attempt; return it numbered.

        Writes may be buffered; `flush()` makes them durable.
        """
        ...

    def flush(self) -> None:
        """Make every buffered write durable."""
        ...

    def history(self, key: str) -> list[Artifact]:
        """Return every attempt of `key`, oldest first."""
        ...

    def begin_run(
        self,
        run_id: str,
        experiment: str,
        cutoff: str | None,
        snapshot: Mapping[str, Any],
    ) -> int:
        """Record the start of a run attempt; return its attempt number."""
        ...

    def end_run(
        self,
        attempt: int,
        status: str,
        counts: Mapping[str, Mapping[str, int]],
        metrics: Sequence[Mapping[str, Any]],
    ) -> None:
        """Record how run attempt `attempt` ended."""
        ...

    def runs(self, run_id: str | None = None) -> list[RunRecord]:
        """Return run attempts, newest first, optionally only of `run_id`."""
        ...

    def put_rows(self, attempt: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store result rows (one per case and subject) of run attempt `attempt`."""
        ...

    def rows(self, attempt: int) -> Iterator[dict[str, Any]]:
        """Yield the result rows of run attempt `attempt` in insertion order."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...
