"""Datasets: formats, selection, ids, and data that changed after compiling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalspec.compiler import compile_file
from evalspec.errors import DatasetChangedError, UsageError
from evalspec.runtime import datasets


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write `records` as JSONL at `path` and return the path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_csv_and_json_read_the_same_records(tmp_path: Path) -> None:
    """The three file formats give the same cases for the same records."""
    records = [{"id": "a", "q": "1"}, {"id": "b", "q": "2"}]
    write_jsonl(tmp_path / "d.jsonl", records)
    (tmp_path / "d.csv").write_text("id,q\na,1\nb,2\n")
    (tmp_path / "d.json").write_text(json.dumps(records))

    found = [
        [c.fields for c in reader("d", tmp_path / name, id_field="id").cases()]
        for reader, name in (
            (datasets.jsonl, "d.jsonl"),
            (datasets.csv_file, "d.csv"),
            (datasets.json_file, "d.json"),
        )
    ]

    assert found[0] == found[1] == found[2] == records


def test_limit_and_seeded_sample_choose_the_same_cases_every_time(
    tmp_path: Path,
) -> None:
    """`sample N seed S` draws a fixed subset; `limit` keeps the first ones."""
    path = write_jsonl(tmp_path / "d.jsonl", [{"n": n} for n in range(50)])

    def chosen(**options: int) -> list[int]:
        dataset = datasets.jsonl("d", path, **options)
        return [case.fields["n"] for case in dataset.cases()]

    assert chosen(limit=3) == [0, 1, 2]
    assert chosen(sample=5, sample_seed=1) == chosen(sample=5, sample_seed=1)
    assert chosen(sample=5, sample_seed=1) != chosen(sample=5, sample_seed=2)
    assert len(chosen(sample=5, sample_seed=1)) == 5


def test_cases_without_id_field_get_stable_content_ids(tmp_path: Path) -> None:
    """Without an id field, a case's id is a hash of its content."""
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": "x"}, {"q": "y"}])

    first = [c.id for c in datasets.jsonl("d", path).cases()]
    again = [c.id for c in datasets.jsonl("d", path).cases()]

    assert first == again and len(set(first)) == 2
    assert all(len(i) == 12 for i in first)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("d.jsonl", '{"q": 1}\n{"q": \n', "d.jsonl:2: invalid JSON line"),
        ("d.jsonl", '{"q": 1}\n[1, 2]\n', "d.jsonl:2: each JSONL line must be"),
        ("d.json", "[1, 2]", "must be an array of objects"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    """A malformed data file is a clear error naming where it is wrong."""
    (tmp_path / name).write_text(text)
    reader = datasets.jsonl if name.endswith(".jsonl") else datasets.json_file

    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        list(reader("d", tmp_path / name).cases())


def test_runner_refuses_data_changed_since_compiling(tmp_path: Path) -> None:
    """A runner whose data file changed stops with a message to recompile."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "expected": "a"}])
    spec = tmp_path / "s.evalspec"
    spec.write_text(
        'dataset d { from "d.jsonl" }\nmodel m { use echo }\n'
        'prompt p "{{ input }}"\ngenerate { model m  prompt p }\nscore exact_match\n'
    )
    runner = compile_file(spec).write(tmp_path / "out")
    write_jsonl(data, [{"input": "b", "expected": "b"}])

    done = subprocess.run(
        [sys.executable, str(runner), "--store", "memory", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "changed since the runner was compiled" in done.stderr
    assert "recompile" in done.stderr


def test_verify_accepts_unchanged_data(tmp_path: Path) -> None:
    """verify() passes when the content matches its fingerprint."""
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": 1}])
    fingerprint = datasets.jsonl("d", path).content_fingerprint()

    datasets.jsonl("d", path, fingerprint=fingerprint).verify()
    with pytest.raises(DatasetChangedError):
        datasets.jsonl("d", path, fingerprint="0" * 64).verify()
