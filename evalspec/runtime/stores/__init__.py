"""Stores: where a runtime keeps artifacts, run attempts and result rows.

`open_store` turns what a user passes (`--store`, ``store=``) into a `Store`.
"""

from __future__ import annotations

import os
from pathlib import Path

from evalspec.errors import UsageError
from evalspec.runtime.stores.base import Artifact, RunRecord, Store
from evalspec.runtime.stores.memory import MemoryStore
from evalspec.runtime.stores.sqlite import SQLiteStore

__all__ = [
    "Artifact",
    "MemoryStore",
    "RunRecord",
    "SQLiteStore",
    "Store",
    "open_store",
]

#: Where the default store lives, relative to the default directory.
DEFAULT_PATH = Path(".evalspec", "store.db")


def open_store(
    spec: str | os.PathLike[str] | Store | None,
    *,
    default_dir: Path | None = None,
) -> Store:
    """Return the store that `spec` names.

    `None` opens the SQLite store ``.evalspec/store.db`` under `default_dir`
    (the current directory when it is None); ``"memory"`` makes a new
    `MemoryStore`; a `Store` is returned as it is; any other string or path
    opens the SQLite store at that path, relative to the current directory.
    """
    if spec is None:
        return SQLiteStore((default_dir or Path.cwd()) / DEFAULT_PATH)
    if isinstance(spec, str):
        if spec == "memory":
            return MemoryStore()
        if not spec.strip():
            msg = (
                "The store is an empty string; pass 'memory', a file path such "
                "as '.evalspec/store.db', or None for the default store."
            )
            raise UsageError(msg)
        return SQLiteStore(spec)
    if isinstance(spec, os.PathLike):
        return SQLiteStore(spec)
    if isinstance(spec, Store):
        return spec
    msg = (
        f"The store must be 'memory', a file path or a Store, not "
        f"{type(spec).__name__}."
    )
    raise UsageError(msg)
