"""The `memory` store: artifacts, run attempts and rows in process-local dicts.

It is the fastest store and keeps nothing after the process ends, so a replay
against it needs the same store object. Values are kept by reference, not
copied or checked for JSON compatibility: the runtime never mutates an
artifact after storing it, and copying would cost more than the work it
guards against.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from evalspec.errors import UsageError
from evalspec.runtime.stores.base import Artifact, RunRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keep every attempt of every artifact in memory; see the `Store` protocol."""

    location = "memory"

    def __init__(self) -> None:
        self._artifacts: dict[str, list[Artifact]] = {}
        # Run attempt N lives at index N - 1, so attempts number from 1.
        self._runs: list[RunRecord] = []
        self._rows: dict[int, list[dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(artifacts={len(self._artifacts)}, runs={len(self._runs)})"

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, keys: Sequence[str]) -> dict[str, Artifact]:
        """Return the newest attempt of each stored key among `keys`."""
        artifacts = self._artifacts
        found = {}
        for key in keys:
            attempts = artifacts.get(key)
            if attempts:
                found[key] = attempts[-1]

        return found

    def put(self, artifact: Artifact) -> Artifact:
        """Append `artifact` as the key's next attempt; return it numbered."""
        attempts = self._artifacts.get(artifact.key)
        if attempts is None:
            attempts = self._artifacts[artifact.key] = []
        # Built directly: dataclasses.replace costs several times more here.
        stored = Artifact(
            artifact.key,
            artifact.stage,
            artifact.run_id,
            artifact.status,
            artifact.value,
            artifact.error,
            artifact.meta,
            len(attempts) + 1,
            artifact.created or time.time(),
        )
        attempts.append(stored)

        return stored

    def flush(self) -> None:
        """Do nothing: every write is visible as soon as it is made."""

    def history(self, key: str) -> list[Artifact]:
        """Return every attempt of `key`, oldest first."""
        return list(self._artifacts.get(key, ()))

    def begin_run(
        self,
        run_id: str,
        experiment: str,
        cutoff: str | None,
        snapshot: Mapping[str, Any],
    ) -> int:
        """Record the start of a run attempt; return its attempt number."""
        attempt = len(self._runs) + 1
        record = RunRecord(
            attempt=attempt,
            run_id=run_id,
            experiment=experiment,
            cutoff=cutoff,
            started=time.time(),
            snapshot=dict(snapshot),
        )
        self._runs.append(record)
        self._rows[attempt] = []

        return attempt

    def end_run(
        self,
        attempt: int,
        status: str,
        counts: Mapping[str, Mapping[str, int]],
        metrics: Sequence[Mapping[str, Any]],
    ) -> None:
        """Record how run attempt `attempt` ended."""
        record = self._run(attempt)
        self._runs[attempt - 1] = replace(
            record,
            ended=time.time(),
            status=status,
            counts={stage: dict(count) for stage, count in counts.items()},
            metrics=[dict(metric) for metric in metrics],
        )

    def runs(self, run_id: str | None = None) -> list[RunRecord]:
        """Return run attempts, newest first, optionally only of `run_id`."""
        return [
            record
            for record in reversed(self._runs)
            if run_id is None or record.run_id == run_id
        ]

    def put_rows(self, attempt: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append result rows (one per case and subject) to run attempt `attempt`."""
        self._run(attempt)
        self._rows[attempt].extend(dict(row) for row in rows)

    def rows(self, attempt: int) -> Iterator[dict[str, Any]]:
        """Yield the result rows of run attempt `attempt` in insertion order."""
        for row in self._rows.get(attempt, ()):
            yield dict(row)

    def close(self) -> None:
        """Do nothing: the data stays, so a replay can reuse this store object."""

    def _run(self, attempt: int) -> RunRecord:
        if not 1 <= attempt <= len(self._runs):
            msg = (
                f"Run attempt {attempt} does not exist in the memory store; "
                f"pass an attempt number returned by begin_run()."
            )
            raise UsageError(msg)

        return self._runs[attempt - 1]
