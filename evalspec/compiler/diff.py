"""Compare two snapshots: which identity fields differ, and what each invalidates.

A difference names its field by a dotted path into the identity. Items of
the identity's lists (datasets, subjects, scores, judges) are named by the
spec's name for them, which the snapshot's provenance keeps under
``labels``: ``subjects[solver/ask].model.params.error_rate``. An item of one
snapshot with no counterpart in the other is one difference with ``None``
on the missing side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalspec.compiler.snapshot import RunSnapshot
from evalspec.errors import UsageError
from evalspec.runtime.canonical import digest

__all__ = ["Difference", "diff_snapshots", "format_differences", "load_snapshot"]

_STAGES = ("generate", "reduce", "parse", "score", "judge")

#: The first stage whose work a change of each top-level identity field
#: invalidates; that stage and every later one re-run, except that scores
#: and judges invalidate only themselves.
_INVALIDATES: dict[str, tuple[str, ...]] = {
    "format": _STAGES,
    "seed": _STAGES,
    "datasets": _STAGES,
    "subjects": _STAGES,
    "samples": _STAGES,
    "reduce": _STAGES[1:],
    "parse": _STAGES[2:],
    "scores": ("score",),
    "judges": ("judge",),
}
_LISTS = ("datasets", "subjects", "scores", "judges")


@dataclass(frozen=True)
class Difference:
    """One identity field that differs between two snapshots."""

    path: str
    """The field's dotted path in the identity, such as ``parse.params.pattern``."""
    old: Any
    """The value in the first snapshot; None when only the second has it."""
    new: Any
    """The value in the second snapshot; None when only the first has it."""
    invalidates: tuple[str, ...]
    """The stages whose stored work the difference makes stale, in order."""

    def to_json(self) -> dict[str, Any]:
        """Return the difference as the object `evalspec diff --json` prints."""
        return {
            "path": self.path,
            "old": self.old,
            "new": self.new,
            "invalidates": list(self.invalidates),
        }


def diff_snapshots(a: RunSnapshot, b: RunSnapshot) -> list[Difference]:
    """Return the identity fields that differ from `a` to `b`, in identity order."""
    differences: list[Difference] = []
    for field in _INVALIDATES:
        old, new = a.identity.get(field), b.identity.get(field)
        if old == new:
            continue
        stages = _INVALIDATES[field]
        if field in _LISTS and isinstance(old, list) and isinstance(new, list):
            pairs = _pair_items(field, old, new, _labels(a, field), _labels(b, field))
            for label, item_a, item_b in pairs:
                path = f"{field}[{label}]"
                differences.extend(_leaves(path, item_a, item_b, stages))
        else:
            differences.extend(_leaves(field, old, new, stages))

    return differences


def format_differences(differences: list[Difference]) -> str:
    """Return the differences as readable lines, one per field."""
    if not differences:
        return "no differences: both have the same identity\n"
    lines = []
    for difference in differences:
        old = json.dumps(difference.old, ensure_ascii=False)
        new = json.dumps(difference.new, ensure_ascii=False)
        stages = ", ".join(difference.invalidates)
        lines.append(f"{difference.path}: {old} -> {new}  (re-runs {stages})")

    return "\n".join(lines) + "\n"


def load_snapshot(path: str | os.PathLike[str]) -> RunSnapshot:
    """Return the snapshot of a spec file, or one read from a snapshot JSON file."""
    if Path(path).suffix != ".json":
        from evalspec.compiler import compile_file

        return compile_file(path).snapshot
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"Cannot read the snapshot {os.fspath(path)!r}: {exc}."
        raise UsageError(msg) from None
    try:
        return RunSnapshot.model_validate_json(text)
    except ValidationError:
        msg = (
            f"{os.fspath(path)!r} is not a snapshot; pass a .evalspec file or the "
            "snapshot JSON that `evalspec compile` writes beside a runner."
        )
        raise UsageError(msg) from None


def _labels(snapshot: RunSnapshot, field: str) -> Mapping[str, str]:
    labels = snapshot.provenance.get("labels", {}).get(field, {})

    return labels if isinstance(labels, Mapping) else {}


def _pair_items(
    field: str,
    old: list[Any],
    new: list[Any],
    old_labels: Mapping[str, str],
    new_labels: Mapping[str, str],
) -> list[tuple[str, Any, Any]]:
    """Return (label, old item, new item) for each item that is not in both.

    Removed and added items with the same label are one changed item; the
    rest are compared as wholly removed or added.
    """
    removed = [item for item in old if item not in new]
    added = [item for item in new if item not in old]
    removed_by_label = {_label(field, old, i, old_labels): i for i in removed}
    added_by_label = {_label(field, new, i, new_labels): i for i in added}
    pairs = []
    for label, item in removed_by_label.items():
        pairs.append((label, item, added_by_label.pop(label, None)))
    for label, item in added_by_label.items():
        pairs.append((label, None, item))

    return pairs


def _label(field: str, items: list[Any], item: Any, labels: Mapping[str, str]) -> str:
    """Return the spec's name for `item`, or its position when none is known."""
    return labels.get(digest(item)) or str(items.index(item))


def _leaves(path: str, old: Any, new: Any, stages: tuple[str, ...]) -> list[Difference]:
    """Return a difference for each leaf below `path` where `old` and `new` differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        differences = []
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key) or (key in old) != (key in new):
                child = f"{path}.{key}"
                differences.extend(_leaves(child, old.get(key), new.get(key), stages))
        return differences

    return [Difference(path, old, new, stages)]
