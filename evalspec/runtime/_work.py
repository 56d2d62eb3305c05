"""Feeding units to workers: store lookups in batches, grouping by case.

Also keeps the objects alive before a run out of the garbage collector's
scans for the run's duration.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from evalspec.runtime.stores import Artifact, Store

if TYPE_CHECKING:
    from evalspec.runtime.pipeline import Unit

__all__ = ["frozen_heap", "grouped", "looked_up", "lookups"]


def grouped(
    work: Iterator[tuple[Unit, Mapping[str, Artifact]]], by_case: bool
) -> Iterator[list[tuple[Unit, Mapping[str, Artifact]]]]:
    """Yield units one by one, or every subject of one case together."""
    if not by_case:
        yield from ([item] for item in work)
        return
    group: list[tuple[Unit, Mapping[str, Artifact]]] = []
    for item in work:
        if group and item[0].case is not group[0][0].case:
            yield group
            group = []
        group.append(item)
    if group:
        yield group


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive before a run out of the garbage collector's scans.

    Modules, compiled templates and the pipeline outlive any run; without
    this, each full collection walks all of them and pauses every in-flight
    model call for tens of milliseconds. A process that froze its heap itself
    is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def lookups(
    units: Iterable[Unit], store: Store, size: int
) -> Iterator[tuple[Unit, Mapping[str, Artifact]]]:
    """Yield each unit with its stored artifacts, looked up `size` units at a time."""
    batch: list[Unit] = []
    for unit in units:
        batch.append(unit)
        if len(batch) == size:
            yield from looked_up(batch, store)
            batch = []
    if batch:
        yield from looked_up(batch, store)


def looked_up(
    batch: list[Unit], store: Store
) -> Iterator[tuple[Unit, Mapping[str, Artifact]]]:
    """Yield each unit of `batch` with the artifacts one store query found."""
    keys = [key for unit in batch for key in unit.keys.all()]
    stored = store.get(keys)
    for unit in batch:
        yield unit, stored
