"""Datasets: inline cases or JSONL, CSV and JSON-array files, read as a stream.

A dataset's fingerprint is the sha256 of its content (the file's bytes, or
the canonical JSON of inline cases), never of its path or modification time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalspec.errors import DatasetChangedError, UsageError
from evalspec.runtime.canonical import canonical_json, digest

__all__ = ["Case", "Dataset", "csv_file", "inline", "json_file", "jsonl"]

Format = Literal["inline", "jsonl", "csv", "json"]


@dataclass(frozen=True, slots=True)
class Case:
    """One dataset record: its id, its fields, and the hash of its content."""

    dataset: str
    id: str
    fields: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class Dataset:
    """Where a dataset's records come from and which of them make its cases."""

    name: str
    format: Format
    path: Path | None = None
    records: Sequence[Mapping[str, Any]] = ()
    id_field: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    limit: int | None = None
    sample: int | None = None
    sample_seed: int = 0
    fingerprint: str | None = None

    def content_fingerprint(self) -> str:
        """Return the sha256 of the dataset's content."""
        if self.path is None:
            return digest([dict(r) for r in self.records])
        sha = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)

        return sha.hexdigest()

    def verify(self) -> None:
        """Raise DatasetChangedError when the content differs from `fingerprint`."""
        if self.fingerprint is None:
            return
        actual = self.content_fingerprint()
        if actual != self.fingerprint:
            msg = (
                f"dataset `{self.name}` ({self.path}) changed since the runner was "
                f"compiled (fingerprint {actual[:12]}, expected "
                f"{self.fingerprint[:12]}); recompile the spec to evaluate the new data"
            )
            raise DatasetChangedError(msg)

    def records_iter(self) -> Iterator[dict[str, Any]]:
        """Yield the raw records, renamed, without selection."""
        for record in self._raw():
            if self.rename:
                record = {self.rename.get(k, k): v for k, v in record.items()}
            yield record

    def cases(self) -> Iterator[Case]:
        """Yield the selected cases, streaming where the format allows."""
        chosen = self._sample_indices()
        count = 0
        for index, record in enumerate(self.records_iter()):
            if chosen is not None and index not in chosen:
                continue
            if self.limit is not None and count >= self.limit:
                return
            count += 1
            yield self._case(record)

    def _case(self, record: Mapping[str, Any]) -> Case:
        text = canonical_json(record)
        content = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if self.id_field is not None:
            if self.id_field not in record:
                msg = (
                    f"dataset `{self.name}`: a record has no id field "
                    f"`{self.id_field}`: {text[:80]}"
                )
                raise UsageError(msg)
            case_id = str(record[self.id_field])
        else:
            case_id = content[:12]

        return Case(self.name, case_id, record, content)

    def _sample_indices(self) -> set[int] | None:
        if self.sample is None:
            return None
        total = sum(1 for _ in self._raw())
        rng = random.Random(self.sample_seed)

        return set(rng.sample(range(total), min(self.sample, total)))

    def _raw(self) -> Iterator[dict[str, Any]]:
        if self.format == "inline":
            yield from (dict(r) for r in self.records)
        elif self.format == "jsonl":
            yield from _read_jsonl(self._require_path())
        elif self.format == "csv":
            with open(self._require_path(), newline="", encoding="utf-8") as handle:
                yield from csv.DictReader(handle)
        else:
            with open(self._require_path(), encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                msg = f"{self.path}: a JSON dataset must be an array of objects"
                raise UsageError(msg)
            yield from data

    def _require_path(self) -> Path:
        assert self.path is not None
        return self.path


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{path}:{number}: invalid JSON line: {exc.msg}"
                raise UsageError(msg) from None
            if not isinstance(record, dict):
                msg = f"{path}:{number}: each JSONL line must be an object"
                raise UsageError(msg)
            yield record


def _file(format: Format, name: str, path: str | Path, **options: Any) -> Dataset:
    return Dataset(name=name, format=format, path=Path(path), **options)


def jsonl(name: str, path: str | Path, **options: Any) -> Dataset:
    """Return the dataset `name` read from the JSONL file at `path`."""
    return _file("jsonl", name, path, **options)


def csv_file(name: str, path: str | Path, **options: Any) -> Dataset:
    """Return the dataset `name` read from the CSV file at `path` (a header row)."""
    return _file("csv", name, path, **options)


def json_file(name: str, path: str | Path, **options: Any) -> Dataset:
    """Return the dataset `name` read from the JSON array at `path`."""
    return _file("json", name, path, **options)


def inline(name: str, records: Sequence[Mapping[str, Any]], **options: Any) -> Dataset:
    """Return the dataset `name` made of the given records."""
    return Dataset(name=name, format="inline", records=tuple(records), **options)
