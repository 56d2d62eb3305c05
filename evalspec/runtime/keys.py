"""Stage keys: per case and subject, each work item's key hashes its upstream key.

generate (case content, subject, seed, sample index) → reduce (all generate
keys) → parse → score (one per metric) and judge (one per judge). A change
in the spec therefore invalidates exactly the work downstream of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["UnitKeys", "stage_key"]


def stage_key(stage: str, config: str, *upstream: str) -> str:
    """Return the key of a `stage` work item with fingerprint `config`."""
    text = "\x1f".join((stage, config, *upstream))

    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UnitKeys:
    """Every stage key of one case and one subject."""

    generate: tuple[str, ...]
    reduce: str
    parse: str
    score: Mapping[str, str]
    judge: Mapping[str, str]

    def all(self) -> list[str]:
        """Return every key, upstream first."""
        return [
            *self.generate,
            self.reduce,
            self.parse,
            *self.score.values(),
            *self.judge.values(),
        ]

    def by_stage(self) -> Iterator[tuple[str, str]]:
        """Yield (stage, key) for every key."""
        for key in self.generate:
            yield "generate", key
        yield "reduce", self.reduce
        yield "parse", self.parse
        for key in self.score.values():
            yield "score", key
        for key in self.judge.values():
            yield "judge", key
