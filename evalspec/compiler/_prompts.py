"""Lower `prompt` statements and check their placeholders against datasets."""

from __future__ import annotations

import re
from collections.abc import Mapping

import jinja2
import jinja2.meta
import jinja2.sandbox

from evalspec.compiler import ir
from evalspec.compiler._context import Lowering, Statement, Turn, listing
from evalspec.compiler.values import Pair, Span, describe, span_of
from evalspec.grammar.diagnostics import did_you_mean

__all__ = ["check_placeholders", "lower_prompt"]

_ROLES = ("system", "user", "assistant")


def lower_prompt(
    state: Lowering, statement: Statement, name: str
) -> ir.PromptNode | None:
    """Return the node of a `prompt` statement, noting its turns for checks."""
    body = statement.child(1)
    reader = statement.reader
    if body.data == "string":
        text = reader.string(body.children[0])
        state.turns.append(Turn(name, text, span_of(body), reader))
        return ir.PromptNode(
            name=name,
            messages=(("user", text),),
            chat=False,
            span=statement.ir_span(),
        )
    messages = [_message(state, statement, name, p) for p in reader.block(body)]
    turns = tuple(m for m in messages if m is not None)
    if not turns:
        reader.error(
            span_of(statement.tree.children[0]),
            f"prompt `{name}` has no turns",
            help='add `user "..."`, after an optional `system "..."`',
        )
        return None

    return ir.PromptNode(name=name, messages=turns, chat=True, span=statement.ir_span())


def _message(
    state: Lowering, statement: Statement, name: str, pair: Pair
) -> tuple[str, str] | None:
    """Return one chat turn of prompt `name`, or report why it is not one."""
    reader = statement.reader
    if pair.key not in _ROLES:
        reader.error(
            pair.key_span,
            f"unknown chat role `{pair.key}`",
            expected="`system`, `user` or `assistant`",
            help=did_you_mean(pair.key, _ROLES),
        )
        return None
    if not isinstance(pair.value.value, str):
        reader.error(
            pair.value.span,
            f"a chat turn must be a string, not {describe(pair.value.value)}",
            expected="a string",
        )
        return None
    state.turns.append(Turn(name, pair.value.value, pair.value.span, reader))

    return pair.key, pair.value.value


def check_placeholders(state: Lowering, datasets: Mapping[str, ir.DatasetNode]) -> None:
    """Report prompt placeholders that name a field some dataset lacks."""
    if not datasets:
        return
    environment = jinja2.sandbox.SandboxedEnvironment()
    for turn in state.turns:
        try:
            names = jinja2.meta.find_undeclared_variables(environment.parse(turn.text))
        except jinja2.TemplateError as exc:
            message = f"invalid template in prompt `{turn.prompt}`: {exc.message}"
            turn.reader.error(turn.span, message.lower())
            continue
        for name in sorted(names):
            lacking = [d for d in datasets.values() if name not in d.fields]
            if lacking:
                _placeholder_error(turn, name, lacking, len(datasets))


def _placeholder_error(
    turn: Turn, name: str, lacking: list[ir.DatasetNode], total: int
) -> None:
    """Report the placeholder `name`, which the `lacking` datasets do not have."""
    span = _placeholder_span(turn, name)
    fields = sorted({f for d in lacking for f in d.fields})
    if len(lacking) == total:
        message = f"placeholder `{{{{ {name} }}}}` names a field no dataset has"
    else:
        message = (
            f"placeholder `{{{{ {name} }}}}` names a field that dataset "
            f"`{lacking[0].name}` does not have"
        )
    owners = ", ".join(f"`{d.name}`" for d in lacking)
    turn.reader.error(
        span,
        message,
        expected=f"a field of {owners}: " + listing(fields),
        help=did_you_mean(name, fields),
    )


def _placeholder_span(turn: Turn, name: str) -> Span:
    """Return the span of the placeholder `name` inside a template's string."""
    source = turn.reader.source
    line, column, end_line, end_column = turn.span
    start, end = source.offset(line, column), source.offset(end_line, end_column)
    pattern = r"\{\{-?\s*" + re.escape(name) + r"\b[^\n{}]*\}\}"
    match = re.compile(pattern).search(source.text, start, end)
    if match is None:
        return turn.span

    return (*source.position(match.start()), *source.position(match.end()))
