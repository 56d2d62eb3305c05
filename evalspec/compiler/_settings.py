"""Lower the settings statements: `experiment` and `runtime`."""

from __future__ import annotations

from pathlib import Path

from evalspec.compiler import ir
from evalspec.compiler._context import Statement, block_pairs, typed
from evalspec.compiler.values import plain

__all__ = ["lower_experiment", "lower_runtime"]


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
    }

    return ir.RuntimeNode(**{k: v for k, v in values.items() if v is not None})
