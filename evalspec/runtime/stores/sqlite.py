"""The `sqlite` store: one SQLite file that several processes can share.

The file holds four tables (schema version 1)::

    meta       name, value             `schema_version`, checked on every open
    artifacts  key, attempt, stage, run_id, status, value, error, meta, created
               primary key (key, attempt)
    runs       attempt (autoincrement), run_id, experiment, cutoff, started,
               ended, status, counts, metrics, snapshot
    rows       attempt, seq, row       primary key (attempt, seq)

`value`, `error`, `meta`, `counts`, `metrics`, `snapshot` and `row` are JSON
text; NaN and the infinities are written as Python's `json` writes them.

The file runs in WAL mode, so readers never wait for the writer, with a busy
timeout, so two processes writing at once take turns instead of failing.
Artifact writes are buffered and flushed in one transaction every
`batch_size` writes, at the first write `flush_interval` seconds after the
oldest buffered one, and on `flush()`, `end_run()` and `close()`; reads see
this process's buffered writes. A flush numbers each attempt inside its write
transaction, so attempts stay consecutive when processes write the same key.

A file that is not an SQLite database, is damaged, belongs to another
application or comes from a newer evalspec is refused with `StoreError`
before anything is written to it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalspec.errors import StoreError, UsageError
from evalspec.runtime.stores.base import Artifact, RunRecord

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

logger = logging.getLogger(__name__)

#: The layout version this code writes; files with a larger one are refused.
SCHEMA_VERSION = 1

_MAGIC = b"SQLite format 3\x00"
# SQLite limits the number of bound parameters per statement; 500 keys per
# lookup stays well below every build's limit.
#: How many keys known to be absent are remembered before the memory is reset.
_ABSENT_LIMIT = 100_000
_CHUNK = 500
_PAGE = 1000

_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE artifacts (
        key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        stage TEXT NOT NULL,
        run_id TEXT NOT NULL,
        status TEXT NOT NULL,
        value TEXT NOT NULL,
        error TEXT,
        meta TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (key, attempt)
    )""",
    """CREATE TABLE runs (
        attempt INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        experiment TEXT NOT NULL,
        cutoff TEXT,
        started REAL NOT NULL,
        ended REAL,
        status TEXT,
        counts TEXT NOT NULL,
        metrics TEXT NOT NULL,
        snapshot TEXT NOT NULL
    )""",
    """CREATE TABLE rows (
        attempt INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        row TEXT NOT NULL,
        PRIMARY KEY (attempt, seq)
    )""",
)

# The attempt is computed from the rows already committed, inside the write
# transaction, so a concurrent writer of the same key cannot take the number.
_INSERT_ARTIFACT = """
INSERT INTO artifacts
    (key, attempt, stage, run_id, status, value, error, meta, created)
SELECT ?1, COALESCE(MAX(attempt), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
FROM artifacts WHERE key = ?1
"""
_ARTIFACT_COLUMNS = "key, attempt, stage, run_id, status, value, error, meta, created"
_RUN_COLUMNS = (
    "attempt, run_id, experiment, cutoff, started, ended, status, counts, metrics, "
    "snapshot"
)


def _jsonable(value: object) -> Any:
    """Return a mapping that is not a dict as a dict, so JSON can hold it."""
    if isinstance(value, Mapping):
        return dict(value)
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_jsonable
).encode
_decode = json.JSONDecoder().decode


class SQLiteStore:
    """Keep artifacts, run attempts and rows in the SQLite file at `path`.

    The file and its parent directories are created when missing. Artifact
    writes are buffered until `batch_size` of them are waiting or the oldest
    has waited `flush_interval` seconds, which bounds the work a crash loses.
    `timeout` is how many seconds to wait for another process's write before
    failing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 256,
        flush_interval: float = 5.0,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        self._pending: dict[str, list[Artifact]] = {}
        # Keys a `get` found absent, so that their first `put` needs no query.
        self._absent: set[str] = set()
        self._params: list[tuple[Any, ...]] = []
        self._oldest = 0.0
        self._closed = False
        self._conn = _connect(self.path, timeout)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.location!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, keys: Sequence[str]) -> dict[str, Artifact]:
        """Return the newest attempt of each stored key among `keys`."""
        found: dict[str, Artifact] = {}
        with self._lock:
            missing = []
            for key in keys:
                attempts = self._pending.get(key)
                if attempts:
                    found[key] = attempts[-1]
                else:
                    missing.append(key)
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                for row in self._conn.execute(_select_newest(len(chunk)), chunk):
                    found[row[0]] = _artifact(row)
            if len(self._absent) > _ABSENT_LIMIT:
                self._absent.clear()
            self._absent.update(key for key in missing if key not in found)

        return found

    def put(self, artifact: Artifact) -> Artifact:
        """Buffer `artifact` as the key's next attempt; return it numbered.

        The number is provisional when another process writes the same key
        before this one flushes: the flush then stores the next free number.
        """
        key = artifact.key
        with self._lock:
            attempts = self._pending.get(key)
            if attempts:
                attempt = attempts[-1].attempt + 1
            elif key in self._absent:
                self._absent.discard(key)
                attempt = 1
            else:
                attempt = self._newest_attempt(key) + 1
            stored = replace(
                artifact, attempt=attempt, created=artifact.created or time.time()
            )
            params = _artifact_params(stored)
            if not self._params:
                self._oldest = time.monotonic()
            self._params.append(params)
            self._pending.setdefault(key, []).append(stored)
            if (
                len(self._params) >= self.batch_size
                or time.monotonic() - self._oldest >= self.flush_interval
            ):
                self._flush()

        return stored

    def flush(self) -> None:
        """Write every buffered artifact in one transaction."""
        with self._lock:
            self._flush()

    def history(self, key: str) -> list[Artifact]:
        """Return every attempt of `key`, oldest first."""
        sql = (
            f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE key = ? ORDER BY attempt"
        )
        with self._lock:
            stored = [_artifact(row) for row in self._conn.execute(sql, (key,))]

            return stored + self._pending.get(key, [])

    def begin_run(
        self,
        run_id: str,
        experiment: str,
        cutoff: str | None,
        snapshot: Mapping[str, Any],
    ) -> int:
        """Record the start of a run attempt; return its attempt number."""
        sql = (
            "INSERT INTO runs (run_id, experiment, cutoff, started, counts, metrics,"
            " snapshot) VALUES (?, ?, ?, ?, '{}', '[]', ?)"
        )
        params = (run_id, experiment, cutoff, time.time(), _encode(snapshot))
        with self._lock:
            attempt = self._conn.execute(sql, params).lastrowid
        if attempt is None:
            msg = f"SQLite returned no attempt number for a new run in {self.location}."
            raise StoreError(msg)

        return attempt

    def end_run(
        self,
        attempt: int,
        status: str,
        counts: Mapping[str, Mapping[str, int]],
        metrics: Sequence[Mapping[str, Any]],
    ) -> None:
        """Flush buffered artifacts, then record how run attempt `attempt` ended."""
        sql = "UPDATE runs SET ended = ?, status = ?, counts = ?, metrics = ?"
        params = (time.time(), status, _encode(counts), _encode(list(metrics)))
        with self._lock:
            self._flush()
            cursor = self._conn.execute(sql + " WHERE attempt = ?", (*params, attempt))
            if cursor.rowcount == 0:
                raise UsageError(self._no_run(attempt))

    def runs(self, run_id: str | None = None) -> list[RunRecord]:
        """Return run attempts, newest first, optionally only of `run_id`."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        params: tuple[str, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY attempt DESC", params).fetchall()

        return [_run_record(row) for row in rows]

    def put_rows(self, attempt: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append result rows (one per case and subject) to run attempt `attempt`."""
        texts = [_encode(row) for row in rows]
        with self._lock, self._transaction() as conn:
            found = conn.execute("SELECT 1 FROM runs WHERE attempt = ?", (attempt,))
            if found.fetchone() is None:
                raise UsageError(self._no_run(attempt))
            sql = "SELECT COALESCE(MAX(seq), 0) FROM rows WHERE attempt = ?"
            last = conn.execute(sql, (attempt,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO rows (attempt, seq, row) VALUES (?, ?, ?)",
                [(attempt, last + n, text) for n, text in enumerate(texts, 1)],
            )

    def rows(self, attempt: int) -> Iterator[dict[str, Any]]:
        """Yield the result rows of run attempt `attempt` in insertion order."""
        sql = (
            "SELECT seq, row FROM rows WHERE attempt = ? AND seq > ?"
            " ORDER BY seq LIMIT ?"
        )
        seq = 0
        while True:
            # Read a page at a time so that no cursor stays open between yields.
            with self._lock:
                page = self._conn.execute(sql, (attempt, seq, _PAGE)).fetchall()
            for _, text in page:
                yield _decode(text)
            if len(page) < _PAGE:
                return
            seq = page[-1][0]

    def close(self) -> None:
        """Flush buffered artifacts and close the file; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._flush()
            finally:
                self._conn.close()

    def _flush(self) -> None:
        if not self._params:
            return
        started = time.perf_counter()
        with self._transaction() as conn:
            conn.executemany(_INSERT_ARTIFACT, self._params)
        logger.debug(
            "flushed %d artifacts to %s in %.3fs",
            len(self._params),
            self.location,
            time.perf_counter() - started,
        )
        self._params = []
        self._pending = {}

    def _newest_attempt(self, key: str) -> int:
        sql = "SELECT MAX(attempt) FROM artifacts WHERE key = ?"
        newest: int | None = self._conn.execute(sql, (key,)).fetchone()[0]

        return newest or 0

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _no_run(self, attempt: int) -> str:
        return (
            f"Run attempt {attempt} does not exist in the store {self.location}; "
            f"pass an attempt number returned by begin_run()."
        )


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    """Open the store file at `path` for writing, creating it when missing."""
    _inspect(path, timeout)
    try:
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        msg = (
            f"The store {path} cannot be opened ({exc}); check the path and its "
            f"permissions."
        )
        raise StoreError(msg) from exc
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise

    return conn


def _inspect(path: Path, timeout: float) -> None:
    """Refuse the file at `path` unless it is a store this code can use.

    Only reads: a file that is refused is left byte for byte as it was.
    """
    if path.is_dir():
        example = path / "store.db"
        msg = f"The store {path} is a directory; pass a file path such as {example}."
        raise StoreError(msg)
    try:
        with path.open("rb") as file:
            header = file.read(len(_MAGIC))
    except FileNotFoundError:
        _make_parents(path)
        return
    except OSError as exc:
        msg = f"The store {path} cannot be read ({exc}); check its permissions."
        raise StoreError(msg) from exc
    # SQLite treats an empty file as a new, empty database.
    if not header:
        return
    if header != _MAGIC:
        msg = (
            f"The store {path} is not an SQLite database. Pass the path of an "
            f"evalspec store, or move the file away to start a new store there; "
            f"the file was left unchanged."
        )
        raise StoreError(msg)

    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout)
        try:
            _check_integrity(conn, path)
            _schema_version(conn, path)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(_damaged(path, str(exc))) from exc


def _make_parents(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"The directory of the store {path} cannot be created ({exc})."
        raise StoreError(msg) from exc


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise StoreError(_damaged(path, "; ".join(problems[:3])))


def _damaged(path: Path, detail: str) -> str:
    return (
        f"The store {path} is damaged ({detail}). Restore it from a backup, or "
        f"move it away to start a new store there; the file was left unchanged."
    )


def _schema_version(conn: sqlite3.Connection, path: Path) -> int | None:
    """Return the store layout version of `conn`'s file, or None when it is empty.

    Raise `StoreError` when the file belongs to another application or to a
    newer evalspec.
    """
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    if not tables:
        return None
    row = None
    if "meta" in tables:
        row = conn.execute(
            "SELECT value FROM meta WHERE name = 'schema_version'"
        ).fetchone()
    if row is None or not str(row[0]).isdigit() or int(row[0]) < 1:
        msg = (
            f"The store {path} is an SQLite database but not an evalspec store. "
            f"Pass the path of an evalspec store, or a new path to start one; "
            f"the file was left unchanged."
        )
        raise StoreError(msg)
    version = int(row[0])
    if version > SCHEMA_VERSION:
        msg = (
            f"The store {path} was written by a newer evalspec (store schema "
            f"version {version}; this evalspec reads up to version "
            f"{SCHEMA_VERSION}). Upgrade evalspec to use it, or pass a different "
            f"store path; the file was left unchanged."
        )
        raise StoreError(msg)

    return version


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables in an empty file, then switch it to WAL mode."""
    # Checking again under the write lock covers a file that another process
    # created or replaced since `_inspect` read it.
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(conn, path) is None:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    # Under WAL, NORMAL loses at most the last transactions on power loss, never
    # consistency; the runtime redoes lost work items on the next run.
    conn.execute("PRAGMA synchronous = NORMAL")


@functools.lru_cache(maxsize=16)
def _select_newest(count: int) -> str:
    """Return the query for the newest attempt of each of `count` keys."""
    marks = ",".join("?" * count)
    # With MAX() as its only aggregate, SQLite takes the other columns from the
    # row holding the maximum, so one pass returns each key's newest attempt.
    return (
        f"SELECT key, MAX(attempt), stage, run_id, status, value, error, meta, "
        f"created FROM artifacts WHERE key IN ({marks}) GROUP BY key"
    )


def _artifact_params(artifact: Artifact) -> tuple[Any, ...]:
    """Return the parameters of `_INSERT_ARTIFACT` for `artifact`."""
    try:
        value = _encode(artifact.value)
        error = None if artifact.error is None else _encode(artifact.error)
        meta = _encode(artifact.meta)
    except (TypeError, ValueError) as exc:
        exc.add_note(
            f"while storing artifact {artifact.key} of stage {artifact.stage}: "
            f"a stored value must be JSON-serialisable"
        )
        raise

    return (
        artifact.key,
        artifact.stage,
        artifact.run_id,
        artifact.status,
        value,
        error,
        meta,
        artifact.created,
    )


def _artifact(row: Sequence[Any]) -> Artifact:
    key, attempt, stage, run_id, status, value, error, meta, created = row

    return Artifact(
        key=key,
        stage=stage,
        run_id=run_id,
        status=status,
        value=_decode(value),
        error=None if error is None else _decode(error),
        meta=_decode(meta),
        attempt=attempt,
        created=created,
    )


def _run_record(row: Iterable[Any]) -> RunRecord:
    attempt, run_id, experiment, cutoff, started, ended, status, *encoded = row
    counts, metrics, snapshot = (_decode(text) for text in encoded)

    return RunRecord(
        attempt=attempt,
        run_id=run_id,
        experiment=experiment,
        cutoff=cutoff,
        started=started,
        ended=ended,
        status=status,
        counts=counts,
        metrics=metrics,
        snapshot=snapshot,
    )
