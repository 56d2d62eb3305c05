"""Read a spec's top-level statements, following `include` into other files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lark import Tree

from evalspec.compiler._context import Lowering, Statement, reason
from evalspec.compiler.values import ValueReader, span_of
from evalspec.errors import SpecError
from evalspec.grammar.parser import parse

__all__ = ["statements"]

_SHAREABLE = {"model", "prompt", "judge", "dataset"}


def statements(
    state: Lowering, text: str, path: str, chain: tuple[str, ...]
) -> Iterator[Statement]:
    """Yield the statements of `text`, included ones in place of their `include`."""
    try:
        parsed = parse(text, path)
    except SpecError as exc:
        state.diagnostics.extend(exc.diagnostics)
        state.unparsed = True
        return
    reader = ValueReader(parsed.source, state.diagnostics)
    for tree in parsed.tree.children:
        assert isinstance(tree, Tree)
        statement = Statement(str(tree.data), tree, reader)
        if statement.kind == "include":
            yield from _include(state, statement, path, chain)
        elif chain and statement.kind not in _SHAREABLE:
            reader.error(
                statement.span,
                f"`{statement.kind}` cannot be shared through `include`",
                expected="model, prompt, judge or dataset definitions",
            )
        else:
            yield statement


def _include(
    state: Lowering, statement: Statement, path: str, chain: tuple[str, ...]
) -> Iterator[Statement]:
    """Yield the statements of the file an `include` names, refusing cycles."""
    target_text = statement.reader.string(statement.child(0).children[0])
    base = Path(path).parent if path != "<spec>" else Path.cwd()
    target = os.path.normpath(base / target_text)
    here = os.path.normpath(path)
    if target in (*chain, here):
        cycle = " -> ".join((*chain, here, target))
        statement.reader.error(
            statement.span,
            f"include cycle: {cycle}",
            help="a file may not include itself, directly or through others",
        )
        return
    try:
        text = Path(target).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        statement.reader.error(
            span_of(statement.child(0)),
            f"cannot read included file `{target_text}`: {reason(exc)}",
            help="include paths are relative to the including file",
        )
        return
    state.includes.append(os.path.relpath(target, state.spec_dir).replace("\\", "/"))
    yield from statements(state, text, target, (*chain, here))
