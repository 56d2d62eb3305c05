"""Lower `dataset` statements: read each dataset once to learn its fields."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from evalspec.compiler import ir
from evalspec.compiler._context import Lowering, Statement, block_pairs, reason, typed
from evalspec.compiler.values import Pair, describe, plain, span_of
from evalspec.errors import EvalSpecError
from evalspec.runtime.datasets import Dataset, Format

__all__ = ["lower_dataset"]

_FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".csv": "csv", ".json": "json"}
#: Errors reading a dataset file may raise, beyond evalspec's own.
_DATA_ERRORS = (EvalSpecError, OSError, ValueError, TypeError, csv.Error)


def lower_dataset(
    state: Lowering, statement: Statement, name: str
) -> ir.DatasetNode | None:
    """Return the node of a `dataset` statement, or None when it has errors."""
    reader = statement.reader
    entries = reader.block(statement.child(1))
    cases = _cases(statement, entries)
    pairs = block_pairs(statement, "dataset", entries)
    pairs.pop("case", None)
    source = pairs.get("from")
    options = _options(statement, pairs, inline=source is None)
    if source is not None and cases:
        reader.error(
            source.key_span,
            "a dataset has either `from` or `case` entries, not both",
        )
        return None
    if source is None:
        return _inline(statement, name, cases, options)
    located = _locate(statement, pairs, source)
    if located is None:
        return None
    path, fmt = located
    dataset = Dataset(name, fmt, path=path, **options)
    relative = os.path.relpath(path, state.spec_dir).replace(os.sep, "/")

    return _node(dataset, relative, statement, source)


def _cases(statement: Statement, entries: list[Pair]) -> list[dict[str, Any]]:
    """Return the records of inline cases, reporting `case` without a block."""
    cases = [_case(p) for p in entries if p.key == "case" and p.section]
    for pair in entries:
        if pair.key == "case" and pair.section is None:
            statement.reader.error(
                pair.key_span,
                "`case` needs a name and a block",
                help='write `case c1 { question "2+2"  answer "4" }`',
            )

    return cases


def _case(pair: Pair) -> dict[str, Any]:
    """Return the record of an inline `case NAME { ... }` section."""
    assert pair.section is not None
    case_id, entries = pair.section
    record: dict[str, Any] = {"id": case_id}
    record.update((entry.key, plain(entry.value.value)) for entry in entries)

    return record


def _inline(
    statement: Statement,
    name: str,
    cases: list[dict[str, Any]],
    options: dict[str, Any],
) -> ir.DatasetNode | None:
    """Return the node of a dataset written as `case` entries."""
    if not cases:
        statement.reader.error(
            span_of(statement.tree.children[0]),
            f"dataset `{name}` has no cases",
            help='add `from "cases.jsonl"` or `case c1 { ... }` entries',
        )
        return None
    dataset = Dataset(name, "inline", records=tuple(cases), **options)

    return _node(dataset, None, statement, None)


def _locate(
    statement: Statement, pairs: Mapping[str, Pair], source: Pair
) -> tuple[Path, Format] | None:
    """Return a dataset file's path and format, or report why there is none."""
    reader = statement.reader
    path_text = source.value.value
    if not isinstance(path_text, str):
        reader.error(
            source.value.span,
            f"`from` must be a file path string, not {describe(path_text)}",
            expected="a string",
        )
        return None
    path, found = _resolve(reader.source.path, path_text)
    fmt = typed(statement, pairs, "format", str) or _FORMATS.get(path.suffix)
    if fmt not in ("jsonl", "csv", "json"):
        reader.error(
            source.value.span,
            f"cannot tell the format of `{path_text}`",
            expected='`format "jsonl"`, `format "csv"` or `format "json"`',
            help='name files .jsonl, .csv or .json, or add `format "jsonl"`',
        )
        return None
    if not found:
        reader.error(
            source.value.span,
            f"dataset file `{path_text}` not found",
            help="paths are relative to the spec file",
        )
        return None

    return path, cast(Format, fmt)


def _resolve(spec_path: str, path_text: str) -> tuple[Path, bool]:
    """Return `path_text` resolved beside the spec, and whether it is a file."""
    base = Path(spec_path).parent if spec_path != "<spec>" else Path.cwd()
    try:
        path = (base / path_text).resolve()
        return path, path.is_file()
    except (OSError, ValueError):
        return base / "-", False


def _options(
    statement: Statement, pairs: Mapping[str, Pair], inline: bool
) -> dict[str, Any]:
    """Return the `Dataset` keyword arguments a dataset block sets."""
    options: dict[str, Any] = {}
    id_pair = pairs.get("id")
    if id_pair is not None:
        options["id_field"] = str(plain(id_pair.value.value))
    elif inline:
        options["id_field"] = "id"
    rename = typed(statement, pairs, "rename", dict)
    if rename:
        options["rename"] = {str(k): str(v) for k, v in plain(rename).items()}
    _counts(statement, pairs, options)
    if "seed" in pairs and "sample" not in pairs:
        statement.reader.error(
            pairs["seed"].key_span,
            "`seed` in a dataset seeds `sample`, which is missing",
            help="add `sample N` to draw N cases at random",
        )

    return options


def _counts(
    statement: Statement, pairs: Mapping[str, Pair], options: dict[str, Any]
) -> None:
    """Add `limit`, `sample` and `seed` to `options`, reporting negative ones."""
    for key, target in (
        ("limit", "limit"),
        ("sample", "sample"),
        ("seed", "sample_seed"),
    ):
        value = typed(statement, pairs, key, int)
        if value is not None and value < 0:
            statement.reader.error(
                pairs[key].value.span, f"`{key}` must not be negative"
            )
        elif value is not None:
            options[target] = value


def _node(
    dataset: Dataset,
    relative: str | None,
    statement: Statement,
    source: Pair | None,
) -> ir.DatasetNode | None:
    """Return the node of `dataset`, read through once, or report why not."""
    try:
        fields, count = _scan(dataset)
        fingerprint = dataset.content_fingerprint()
        duplicate = _duplicate_id(dataset)
    except _DATA_ERRORS as exc:
        where = source.value.span if source else statement.span
        statement.reader.error(
            where, f"cannot read dataset `{dataset.name}`: {reason(exc)}"
        )
        return None
    if duplicate is not None:
        statement.reader.error(
            span_of(statement.tree.children[0]),
            f"dataset `{dataset.name}` has two cases with id `{duplicate}`",
            help="case ids must be unique; set `id` to a unique field",
        )
        return None

    return ir.DatasetNode(
        name=dataset.name,
        format=dataset.format,
        path=relative,
        records=tuple(dict(r) for r in dataset.records),
        id_field=dataset.id_field,
        rename=dict(dataset.rename),
        limit=dataset.limit,
        sample=dataset.sample,
        sample_seed=dataset.sample_seed,
        fingerprint=fingerprint,
        fields=fields,
        count=count,
        span=statement.ir_span(),
    )


def _scan(dataset: Dataset) -> tuple[tuple[str, ...], int]:
    """Return the fields of `dataset` in first-seen order, and its case count."""
    fields: dict[str, None] = {}
    count = 0
    for record in dataset.records_iter():
        count += 1
        fields.update(dict.fromkeys(record))

    return tuple(fields), count


def _duplicate_id(dataset: Dataset) -> str | None:
    """Return a case id that two of the dataset's cases share, if any."""
    seen: set[str] = set()
    for case in dataset.cases():
        if case.id in seen:
            return case.id
        seen.add(case.id)

    return None
