"""Tests of the stores: one contract both keep, then what only SQLite promises."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import evalspec.runtime.stores as stores
from evalspec.errors import StoreError, UsageError
from evalspec.runtime.stores import (
    Artifact,
    MemoryStore,
    SQLiteStore,
    Store,
    open_store,
)
from evalspec.runtime.stores.sqlite import SCHEMA_VERSION


def make(key: str = "k1", value: Any = None, **fields: Any) -> Artifact:
    """Return an artifact of stage ``generate`` in run ``r1`` unless told otherwise."""
    fields = {"stage": "generate", "run_id": "r1", "status": "ok", **fields}

    return Artifact(key=key, value=value, **fields)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Yield each store, empty; the SQLite one in a fresh file."""
    opened: Store
    if request.param == "memory":
        opened = MemoryStore()
    else:
        opened = SQLiteStore(tmp_path / "store.db")
    yield opened
    opened.close()


# The contract every store keeps.


def test_store_any_kind_implements_protocol(store: Store) -> None:
    """Both stores satisfy the runtime-checkable `Store` protocol."""
    assert isinstance(store, Store)
    assert isinstance(store.location, str)


def test_get_unknown_keys_returns_nothing(store: Store) -> None:
    """Keys never put are absent from the result, not mapped to None."""
    store.put(make("known"))

    assert store.get(["unknown", "other"]) == {}
    assert store.get([]) == {}


def test_put_same_key_numbers_attempts_and_get_returns_newest(store: Store) -> None:
    """Each put of a key is its next attempt; get returns the newest one."""
    first = store.put(make("k1", "a"))
    second = store.put(make("k1", "b"))
    store.put(make("k2", "c"))

    found = store.get(["k1", "k2"])

    assert (first.attempt, second.attempt) == (1, 2)
    assert found["k1"] == second
    assert found["k1"].value == "b"
    assert found["k2"].attempt == 1


def test_put_given_attempt_is_ignored(store: Store) -> None:
    """The store numbers attempts itself, whatever the artifact carried."""
    stored = store.put(make("k1", attempt=7))

    assert stored.attempt == 1


def test_put_zero_created_sets_current_time(store: Store) -> None:
    """A zero `created` becomes the time of the put; a given one is kept."""
    before = time.time()
    stamped = store.put(make("k1"))
    kept = store.put(make("k2", created=123.5))

    assert before <= stamped.created <= time.time()
    assert kept.created == 123.5


def test_history_across_flushes_keeps_every_attempt_oldest_first(
    store: Store,
) -> None:
    """Flushed and buffered attempts of a key all appear, in attempt order."""
    store.put(make("k1", 1))
    store.flush()
    store.put(make("k1", 2))
    store.put(make("k1", 3))

    history = store.history("k1")

    assert [a.attempt for a in history] == [1, 2, 3]
    assert [a.value for a in history] == [1, 2, 3]
    assert store.history("unknown") == []


def test_put_after_flush_continues_numbering(store: Store) -> None:
    """Numbering continues from flushed attempts, not from zero."""
    store.put(make("k1"))
    store.flush()

    assert store.put(make("k1")).attempt == 2


def test_get_buffered_writes_visible_before_flush(store: Store) -> None:
    """A put is readable at once, before any flush."""
    stored = store.put(make("k1", {"text": "42"}))

    assert store.get(["k1"]) == {"k1": stored}


def test_get_many_keys_mixing_flushed_and_buffered_finds_all(store: Store) -> None:
    """A lookup of more keys than one query holds finds every key's newest attempt."""
    keys = [f"key-{n}" for n in range(1200)]
    for n, key in enumerate(keys):
        store.put(make(key, n))
    store.flush()
    for key in keys[::3]:
        store.put(make(key, "again"))

    found = store.get([*keys, "missing"])

    assert sorted(found) == sorted(keys)
    assert found["key-0"].value == "again"
    assert found["key-0"].attempt == 2
    assert found["key-1"].value == 1
    assert found["key-1"].attempt == 1


def test_failed_artifact_round_trips_error_and_meta(store: Store) -> None:
    """A failed work item keeps its error and the runtime's observations."""
    error = {"category": "timeout", "message": "read timed out"}
    meta = {"latency": 1.5, "retries": [{"attempt": 1, "delay": 0.5, "reason": "429"}]}
    store.put(make("k1", status="failed", error=error, meta=meta))
    store.flush()

    found = store.get(["k1"])["k1"]

    assert found.status == "failed"
    assert found.value is None
    assert found.error == error
    assert found.meta == meta


@pytest.mark.parametrize(
    "value",
    [
        'naïve café — 日本語 🙂 "quoted" \\ \n\t\u2028',
        {"nested": {"list": [1, 2.5, None, True, {"deep": ["x"]}]}, "": ""},
        [[], {}, "", 0, -1, 10**18, 1e-300],
        None,
        False,
        float("inf"),
    ],
    ids=["unicode", "nested", "edges", "null", "false", "infinity"],
)
def test_put_json_value_round_trips(store: Store, value: Any) -> None:
    """JSON values come back equal after a flush, unicode and nesting included."""
    store.put(make("k1", value))
    store.flush()

    assert store.get(["k1"])["k1"].value == value


def test_put_nan_value_round_trips(store: Store) -> None:
    """NaN, which JSON lacks, is kept as Python's `json` writes it."""
    store.put(make("k1", {"score": math.nan}, meta={"latency": math.nan}))
    store.flush()

    found = store.get(["k1"])["k1"]

    assert math.isnan(found.value["score"])
    assert math.isnan(found.meta["latency"])


def test_begin_run_records_open_attempt(store: Store) -> None:
    """A begun run has its identity and start time, and no end yet."""
    before = time.time()
    attempt = store.begin_run("r1", "arithmetic", None, {"identity": {"seed": 7}})

    (record,) = store.runs()

    assert record.attempt == attempt
    assert (record.run_id, record.experiment, record.cutoff) == (
        "r1",
        "arithmetic",
        None,
    )
    assert before <= record.started <= time.time()
    assert (record.ended, record.status) == (None, None)
    assert dict(record.counts) == {}
    assert list(record.metrics) == []
    assert record.snapshot == {"identity": {"seed": 7}}


def test_end_run_records_status_counts_and_metrics(store: Store) -> None:
    """Ending a run stores its status, per-stage counts and metrics."""
    attempt = store.begin_run("r1", "arithmetic", "parse", {})
    counts = {"generate": {"stored": 10, "ran": 0}, "parse": {"ran": 10}}
    metrics = [{"name": "exact_match", "mean": 0.8, "ci": [0.6, 0.9]}]

    store.end_run(attempt, "ok", counts, metrics)
    (record,) = store.runs()

    assert record.status == "ok"
    assert record.ended is not None
    assert record.ended >= record.started
    assert record.cutoff == "parse"
    assert record.counts == counts
    assert list(record.metrics) == metrics


def test_runs_several_listed_newest_first_and_filtered(store: Store) -> None:
    """Runs list newest first; a run_id keeps only that run's attempts."""
    first = store.begin_run("r1", "e", None, {})
    second = store.begin_run("r2", "e", None, {})
    third = store.begin_run("r1", "e", "judge", {})

    assert [r.attempt for r in store.runs()] == [third, second, first]
    assert [r.attempt for r in store.runs("r1")] == [third, first]
    assert [r.run_id for r in store.runs("r2")] == ["r2"]
    assert store.runs("unknown") == []
    assert first < second < third


def test_end_run_unknown_attempt_raises_usage_error(store: Store) -> None:
    """Ending a run attempt that was never begun names the attempt."""
    with pytest.raises(UsageError, match="Run attempt 41 does not exist"):
        store.end_run(41, "ok", {}, [])


def test_put_rows_unknown_attempt_raises_usage_error(store: Store) -> None:
    """Rows need a begun run attempt to belong to."""
    with pytest.raises(UsageError, match="begin_run"):
        store.put_rows(41, [{"case": "c1"}])


def test_rows_several_puts_round_trip_in_order(store: Store) -> None:
    """Rows come back as put, in order, across calls and reading pages."""
    attempt = store.begin_run("r1", "e", None, {})
    other = store.begin_run("r1", "e", None, {})
    rows = [{"case": f"c{n}", "score": n / 7, "text": "é"} for n in range(1500)]

    store.put_rows(attempt, rows[:1000])
    store.put_rows(other, [{"case": "elsewhere"}])
    store.put_rows(attempt, rows[1000:])

    assert list(store.rows(attempt)) == rows
    assert list(store.rows(other)) == [{"case": "elsewhere"}]
    assert list(store.rows(999)) == []


def test_close_twice_is_harmless(store: Store) -> None:
    """Closing an already closed store does nothing."""
    store.put(make("k1"))
    store.close()
    store.close()


# What only the SQLite store promises.


def test_sqlite_reopen_keeps_artifacts_runs_and_rows(tmp_path: Path) -> None:
    """Everything written survives closing the file and opening it again."""
    path = tmp_path / "store.db"
    with SQLiteStore(path) as store:
        store.put(make("k1", "a"))
        store.put(make("k1", "b"))
        attempt = store.begin_run("r1", "e", None, {"x": 1})
        store.put_rows(attempt, [{"case": "c1"}])
        store.end_run(attempt, "ok", {"generate": {"ran": 1}}, [])

    with SQLiteStore(path) as store:
        assert [a.value for a in store.history("k1")] == ["a", "b"]
        assert store.put(make("k1", "c")).attempt == 3
        (record,) = store.runs()
        assert (record.attempt, record.status, record.snapshot) == (
            attempt,
            "ok",
            {"x": 1},
        )
        assert list(store.rows(attempt)) == [{"case": "c1"}]


def test_sqlite_open_missing_directories_creates_them(tmp_path: Path) -> None:
    """The parent directories of a new store file are created."""
    path = tmp_path / "a" / "b" / "store.db"

    with SQLiteStore(path) as store:
        assert store.location == str(path)

    assert path.is_file()


def test_sqlite_open_uses_wal_mode(tmp_path: Path) -> None:
    """The file is left in WAL mode so readers never wait for the writer."""
    path = tmp_path / "store.db"
    SQLiteStore(path).close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_put_buffers_until_flush(tmp_path: Path) -> None:
    """Another reader of the file sees buffered writes only once flushed."""
    path = tmp_path / "store.db"
    with SQLiteStore(path) as writer, SQLiteStore(path) as reader:
        writer.put(make("k1"))
        assert reader.get(["k1"]) == {}

        writer.flush()

        assert reader.get(["k1"])["k1"].attempt == 1


def test_sqlite_put_batch_size_reached_flushes(tmp_path: Path) -> None:
    """The write that fills a batch flushes the whole batch."""
    path = tmp_path / "store.db"
    with SQLiteStore(path, batch_size=3) as writer, SQLiteStore(path) as reader:
        writer.put(make("k1"))
        writer.put(make("k2"))
        assert reader.get(["k1", "k2"]) == {}

        writer.put(make("k3"))

        assert sorted(reader.get(["k1", "k2", "k3"])) == ["k1", "k2", "k3"]


def test_sqlite_put_flush_interval_elapsed_flushes(tmp_path: Path) -> None:
    """A write made after the oldest buffered one has waited too long flushes."""
    path = tmp_path / "store.db"
    with SQLiteStore(path, flush_interval=0) as writer, SQLiteStore(path) as reader:
        writer.put(make("k1"))

        assert "k1" in reader.get(["k1"])


def test_sqlite_end_run_flushes_buffered_artifacts(tmp_path: Path) -> None:
    """A run recorded as ended has its artifacts in the file."""
    path = tmp_path / "store.db"
    with SQLiteStore(path) as writer, SQLiteStore(path) as reader:
        attempt = writer.begin_run("r1", "e", None, {})
        writer.put(make("k1"))

        writer.end_run(attempt, "ok", {}, [])

        assert "k1" in reader.get(["k1"])


def test_sqlite_two_stores_same_key_number_attempts_at_flush(tmp_path: Path) -> None:
    """Attempts stay consecutive when two writers buffer the same key at once."""
    path = tmp_path / "store.db"
    with SQLiteStore(path) as first, SQLiteStore(path) as second:
        assert first.put(make("k1", run_id="a")).attempt == 1
        assert second.put(make("k1", run_id="b")).attempt == 1
        first.flush()
        second.flush()

        history = first.history("k1")

    assert [(a.attempt, a.run_id) for a in history] == [(1, "a"), (2, "b")]


def test_sqlite_put_unserialisable_value_raises_and_keeps_store_usable(
    tmp_path: Path,
) -> None:
    """A value JSON cannot hold is refused at put, naming the artifact."""
    with SQLiteStore(tmp_path / "store.db") as store:
        with pytest.raises(TypeError) as caught:
            store.put(make("bad-key", object()))
        store.put(make("good", 1))
        store.flush()

        assert "bad-key" in "".join(caught.value.__notes__)
        assert store.get(["bad-key", "good"]).keys() == {"good"}


def test_sqlite_newer_schema_raises_store_error_and_keeps_file(
    tmp_path: Path,
) -> None:
    """A store from a newer evalspec is refused, named, and left untouched."""
    path = tmp_path / "store.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE name = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
    conn.close()
    before = path.read_bytes()

    with pytest.raises(StoreError, match="newer evalspec") as caught:
        SQLiteStore(path)

    assert str(path) in str(caught.value)
    assert "Upgrade evalspec" in str(caught.value)
    assert path.read_bytes() == before


def _damage(path: Path) -> None:
    """Overwrite a real store's table of contents, keeping its SQLite header."""
    SQLiteStore(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    """Write an SQLite database of some other application."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"not a database\n" * 300), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50), "damaged"),
        (_damage, "damaged"),
        (_foreign, "not an evalspec store"),
    ],
    ids=["garbage", "truncated", "damaged", "foreign"],
)
def test_sqlite_unusable_file_raises_store_error_and_keeps_file(
    tmp_path: Path, write: Any, message: str
) -> None:
    """A file that is not a usable store is refused and never written to."""
    path = tmp_path / "store.db"
    write(path)
    before = path.read_bytes()

    with pytest.raises(StoreError, match=message) as caught:
        SQLiteStore(path)

    assert str(path) in str(caught.value)
    assert "left unchanged" in str(caught.value)
    assert path.read_bytes() == before


def test_sqlite_directory_path_raises_store_error(tmp_path: Path) -> None:
    """A directory given as the store says to pass a file path."""
    with pytest.raises(StoreError, match="is a directory"):
        SQLiteStore(tmp_path)


def test_sqlite_empty_file_becomes_store(tmp_path: Path) -> None:
    """An empty file is a new database, so it becomes a new store."""
    path = tmp_path / "store.db"
    path.touch()

    with SQLiteStore(path) as store:
        store.put(make("k1"))

    assert path.stat().st_size > 0


_WRITER = """
import sys, time
from pathlib import Path
from evalspec.runtime.stores import Artifact, SQLiteStore

path, name, ready, go = sys.argv[1:5]
store = SQLiteStore(path, batch_size=16)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
for n in range(500):
    store.put(Artifact(f"shared-{n}", "generate", name, "ok", value=[name, n]))
    # Pausing after each batch lets the other writer take the write lock.
    if n % 16 == 15:
        time.sleep(0.005)
store.close()
"""


def test_sqlite_two_processes_writing_same_keys_lose_nothing(tmp_path: Path) -> None:
    """Two processes writing the same 500 keys at once keep all 1000 attempts."""
    path = tmp_path / "store.db"
    root = Path(stores.__file__).resolve().parents[3]
    paths = [str(root), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    go = tmp_path / "go"
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, str(tmp_path / name), go],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    }
    deadline = time.monotonic() + 60
    while not all((tmp_path / name).exists() for name in writers):
        assert time.monotonic() < deadline, "the writer processes did not start"
        assert all(w.poll() is None for w in writers.values()), "a writer failed"
        time.sleep(0.01)
    go.touch()
    for writer in writers.values():
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr

    with SQLiteStore(path) as store:
        histories = [store.history(f"shared-{n}") for n in range(500)]

    for n, history in enumerate(histories):
        assert [a.attempt for a in history] == [1, 2]
        assert sorted(a.value[0] for a in history) == ["a", "b"]
        assert {a.value[1] for a in history} == {n}


# Opening a store from what a user passes.


def test_open_store_none_opens_default_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No store means ``.evalspec/store.db`` under the directory given or cwd."""
    with closing(open_store(None, default_dir=tmp_path / "project")) as store:
        assert isinstance(store, SQLiteStore)
        assert store.path == tmp_path / "project" / ".evalspec" / "store.db"
    monkeypatch.chdir(tmp_path)

    with closing(open_store(None)) as store:
        assert isinstance(store, SQLiteStore)
        assert store.path.resolve() == tmp_path / ".evalspec" / "store.db"


def test_open_store_memory_makes_new_memory_store() -> None:
    """``"memory"`` makes a new, empty memory store every time."""
    first = open_store("memory")
    first.put(make("k1"))
    second = open_store("memory")

    assert isinstance(first, MemoryStore)
    assert isinstance(second, MemoryStore)
    assert second.get(["k1"]) == {}


def test_open_store_instance_returns_it() -> None:
    """A store passed in is used as it is."""
    store = MemoryStore()

    assert open_store(store) is store


@pytest.mark.parametrize("kind", [str, Path], ids=["str", "path"])
def test_open_store_path_opens_sqlite_file(tmp_path: Path, kind: type) -> None:
    """Any other string or path names an SQLite file."""
    path = tmp_path / "runs.sqlite"

    with closing(open_store(kind(path))) as store:
        assert isinstance(store, SQLiteStore)
        assert store.location == str(path)


@pytest.mark.parametrize("spec", ["", "  ", 42], ids=["empty", "blank", "int"])
def test_open_store_unusable_spec_raises_usage_error(spec: Any) -> None:
    """A store that is neither a name, a path nor a Store says what to pass."""
    with pytest.raises(UsageError, match="memory"):
        open_store(spec)


def test_stores_all_is_sorted_and_exported() -> None:
    """The package's `__all__` is sorted and every name in it exists."""
    assert stores.__all__ == sorted(stores.__all__)
    assert all(hasattr(stores, name) for name in stores.__all__)
