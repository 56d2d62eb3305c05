"""Lower registry components: resolve ids, validate parameters, note fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lark import Tree
from pydantic import BaseModel, ValidationError

from evalspec.compiler import ir
from evalspec.compiler._context import (
    WORDS,
    FieldUse,
    Lowering,
    Statement,
    listing,
    reason,
)
from evalspec.compiler.values import (
    Pair,
    Ref,
    Span,
    Value,
    ValueReader,
    describe,
    plain,
)
from evalspec.errors import ComponentError
from evalspec.grammar.diagnostics import did_you_mean
from evalspec.runtime import registry
from evalspec.runtime.components.base import Kind

__all__ = [
    "check_fields",
    "check_metric_names",
    "component",
    "component_statement",
    "default_component",
    "metric_name",
]

#: Component parameters whose values name case fields.
_FIELD_PARAMS = ("expected", "reference", "answer_field", "fields")


def metric_name(node: ir.ComponentNode) -> str:
    """Return the name a metric is reported under."""
    if node.id == "python":
        return str(node.params["ref"]).rpartition(":")[2]

    return node.id


def default_component(
    state: Lowering, kind: Kind, statements: list[Statement], default: str
) -> ir.ComponentNode | None:
    """Return the component of a single statement, or the `default` id."""
    if statements:
        return component_statement(state, kind, statements[0])
    cls = registry.get(kind, default)

    return ir.ComponentNode(
        kind=kind,
        id=default,
        version=cls.version,
        params={},
        module=cls.__module__,
        qualname=cls.__qualname__,
        span=ir.Span(file=state.path, line=1, column=1, end_line=1, end_column=1),
    )


def component_statement(
    state: Lowering, kind: Kind, statement: Statement
) -> ir.ComponentNode | None:
    """Return the component a `score`, `reduce` or `parse` statement names."""
    tree = statement.child(0)
    head = statement.reader.value(tree.children[0])
    body = tree.children[1] if len(tree.children) > 1 else None
    pairs = statement.reader.block(body) if isinstance(body, Tree) else []

    return component(state, statement, kind, head, pairs)


def component(
    state: Lowering, statement: Statement, kind: Kind, head: Value, pairs: list[Pair]
) -> ir.ComponentNode | None:
    """Return a validated component, or report everything wrong with it."""
    reader = statement.reader
    resolved = _component_id(reader, kind, head)
    if resolved is None:
        return None
    component_id, params = resolved
    cls = registry.get(kind, component_id)
    spans = _params(state, reader, (kind, component_id), pairs, params, cls.Params)
    try:
        validated = cls.Params(**params)
    except ValidationError as exc:
        _invalid(reader, f"{kind} `{component_id}`", exc, spans, head.span)
        return None
    except (ValueError, TypeError) as exc:
        reader.error(
            head.span, f"invalid parameters for {kind} `{component_id}`: {exc}"
        )
        return None
    _note_fields(state, reader, params, spans)
    dumped = validated.model_dump(mode="json", exclude_defaults=True)

    return ir.ComponentNode(
        kind=kind,
        id=component_id,
        version=cls.version,
        params={k: dumped[k] for k in params if k in dumped},
        module=cls.__module__,
        qualname=cls.__qualname__,
        span=statement.ir_span(head.span),
    )


def _params(
    state: Lowering,
    reader: ValueReader,
    what: tuple[Kind, str],
    pairs: list[Pair],
    params: dict[str, Any],
    model: type[BaseModel],
) -> dict[str, Span]:
    """Add the parameters of `pairs` to `params`; return where each was written."""
    kind, component_id = what
    spans: dict[str, Span] = {}
    for pair in pairs:
        entry = _param(state, reader, what, pair, model.model_fields)
        if entry is None:
            continue
        if entry[0] in params:
            reader.error(
                pair.key_span,
                f"duplicate parameter `{pair.key}` for {kind} `{component_id}`",
                help="each parameter may be given once",
            )
            continue
        params[entry[0]] = entry[1]
        spans[entry[0]] = pair.value.span

    return spans


def _component_id(
    reader: ValueReader, kind: Kind, head: Value
) -> tuple[str, dict[str, Any]] | None:
    """Return a component's registry id and the parameters its head implies."""
    value = head.value
    if isinstance(value, dict) and "$python" in value:
        ref = value["$python"]
        fingerprint = _python_fingerprint(reader, ref, head.span, kind)
        if fingerprint is None:
            return None
        return "python", {"ref": ref, "fingerprint": fingerprint}
    if not isinstance(value, Ref):
        reader.error(
            head.span,
            f"expected a {kind} id, not {describe(value)}",
            expected=f'a {kind} id, or `python "module:attr"`',
        )
        return None
    ids = registry.ids(kind)
    if value.name not in ids:
        reader.error(
            head.span,
            f"unknown {kind} `{value.name}`",
            expected=f"a {kind} id: " + listing(sorted(ids)),
            help=did_you_mean(value.name, ids),
        )
        return None

    return value.name, {}


def _param(
    state: Lowering,
    reader: ValueReader,
    what: tuple[Kind, str],
    pair: Pair,
    fields: Mapping[str, Any],
) -> tuple[str, Any] | None:
    """Return a parameter's name and value, or report it as unknown."""
    kind, component_id = what
    key, value = pair.key, pair.value.value
    if isinstance(value, dict) and "$env" in value:
        state.env_names.add(str(value["$env"]))
        if f"{key}_env" in fields:
            return f"{key}_env", value["$env"]
        reader.error(
            pair.value.span,
            f"`{key}` of {kind} `{component_id}` cannot come from the environment",
            help="only secrets such as `api_key` are read with `env(...)`",
        )
        return None
    if key not in fields:
        reader.error(
            pair.key_span,
            f"unknown parameter `{key}` for {kind} `{component_id}`",
            expected=(
                listing([f"`{f}`" for f in fields]) if fields else "no parameters"
            ),
            help=did_you_mean(key, fields),
        )
        return None

    return key, plain(value)


def _invalid(
    reader: ValueReader,
    what: str,
    exc: ValidationError,
    spans: Mapping[str, Span],
    head: Span,
) -> None:
    """Report each parameter pydantic rejected, at the value it rejected."""
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "missing":
            reader.error(
                head,
                f"missing required parameter `{name}` for {what}",
                help=f"add `{name} ...` to its block",
            )
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        reader.error(
            spans.get(name, head),
            f"invalid value for `{name}` of {what}: {message}",
            expected=WORDS.get(str(error["type"]).split("_")[0]),
        )


def _note_fields(
    state: Lowering,
    reader: ValueReader,
    params: Mapping[str, Any],
    spans: Mapping[str, Span],
) -> None:
    """Remember parameters that name case fields, for `check_fields`."""
    for key in _FIELD_PARAMS:
        value = params.get(key)
        names = value if isinstance(value, list) else [value]
        if key in spans and all(isinstance(n, str) for n in names):
            use = FieldUse(key, tuple(str(n) for n in names), spans[key], reader)
            state.field_uses.append(use)


def _python_fingerprint(
    reader: ValueReader, ref: Any, span: Span, kind: str
) -> str | None:
    """Return the source fingerprint of a Python reference, or report it."""
    from evalspec.runtime.components import python_ref

    if not isinstance(ref, str) or ":" not in ref:
        reader.error(
            span,
            'a Python reference reads "package.module:attribute"',
            help='for a module beside the spec, write `python "module:function"`',
        )
        return None
    try:
        python_ref.resolve_ref(ref)
        fingerprint = python_ref.source_fingerprint(ref)
    except Exception as exc:  # importing the user's module may fail in any way
        reader.error(
            span,
            f"cannot import {kind} `{ref}`: {reason(exc)}",
            help="modules beside the spec file and on PYTHONPATH can be imported",
        )
        return None
    try:
        python_ref.check_signature(ref, kind)
    except ComponentError as exc:
        reader.error(
            span,
            f"wrong signature for {kind} `{ref}`",
            help=str(exc),
        )
        return None

    return fingerprint


def check_metric_names(
    scores: list[ir.ComponentNode | None], statements: list[Statement]
) -> None:
    """Report metrics that two `score` statements report under one name."""
    seen: set[str] = set()
    for node, statement in zip(scores, statements, strict=True):
        if node is None:
            continue
        name = metric_name(node)
        if name in seen:
            statement.reader.error(
                statement.span,
                f"metric `{name}` is scored twice",
                help="give each metric different parameters or remove one",
            )
        seen.add(name)


def check_fields(state: Lowering, datasets: Mapping[str, ir.DatasetNode]) -> None:
    """Report component parameters that name a field no dataset has."""
    fields = {f for d in datasets.values() for f in d.fields}
    if not datasets:
        return
    for use in state.field_uses:
        for name in (n for n in use.names if n not in fields):
            owners = ", ".join(f"`{d}`" for d in datasets)
            use.reader.error(
                use.span,
                f"`{use.key}` names field `{name}`, which no dataset has",
                expected=f"a field of {owners}: " + listing(sorted(fields)),
                help=did_you_mean(name, fields),
            )
