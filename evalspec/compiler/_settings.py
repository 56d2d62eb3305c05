"""Lower the settings statements: `experiment` and `runtime`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from evalspec.compiler import ir
from evalspec.compiler._context import Statement, block_pairs, typed
from evalspec.compiler.values import Pair, plain
from evalspec.grammar.diagnostics import did_you_mean

__all__ = ["lower_experiment", "lower_runtime"]

_CALLING_STAGES = ("generate", "judge")


def lower_experiment(path: str, statements: list[Statement]) -> ir.ExperimentNode:
    """Return the experiment node, named after the spec file when there is none."""
    if not statements:
        return ir.ExperimentNode(name=Path(path).stem.replace("-", "_"))
    statement = statements[0]
    block = statement.reader.block(statement.child(1))
    pairs = block_pairs(statement, "experiment", block)
    values = {
        "description": typed(statement, pairs, "description", str),
        "seed": typed(statement, pairs, "seed", int),
        "tags": typed(statement, pairs, "tags", list),
    }
    if values["tags"] is not None:
        values["tags"] = tuple(str(tag) for tag in plain(values["tags"]))
    present = {k: v for k, v in values.items() if v is not None}

    return ir.ExperimentNode(name=str(statement.tree.children[0]), **present)


def lower_runtime(statements: list[Statement]) -> ir.RuntimeNode:
    """Return the runtime node, with defaults for what the spec leaves out."""
    if not statements:
        return ir.RuntimeNode()
    statement = statements[0]
    block = statement.reader.block(statement.child(0))
    pairs = block_pairs(statement, "runtime", block)
    values = {
        "concurrency": typed(statement, pairs, "concurrency", int),
        "rate": typed(statement, pairs, "rate", float),
        "retries": typed(statement, pairs, "retries", int),
        "timeout": typed(statement, pairs, "timeout", float),
        "stage_concurrency": _caps(statement, pairs, "stages", _CALLING_STAGES),
        "providers": _caps(statement, pairs, "providers", None),
    }

    return ir.RuntimeNode(**{k: v for k, v in values.items() if v is not None})


def _caps(
    statement: Statement,
    pairs: Mapping[str, Pair],
    key: str,
    names: tuple[str, ...] | None,
) -> dict[str, int] | None:
    """Return a map of names to positive call limits, reporting bad entries."""
    caps = typed(statement, pairs, key, dict)
    if caps is None:
        return None
    span = pairs[key].value.span
    result = {}
    for name, limit in caps.items():
        if names is not None and name not in names:
            statement.reader.error(
                span,
                f"`{key}` names `{name}`, which makes no model calls",
                expected=" or ".join(f"`{n}`" for n in names),
                help=did_you_mean(name, names),
            )
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            statement.reader.error(
                span, f"the limit of `{name}` in `{key}` must be a positive integer"
            )
        else:
            result[str(name)] = limit

    return result
