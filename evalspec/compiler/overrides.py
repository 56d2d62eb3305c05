"""Dotted overrides applied to a compiled program: ``{"generate.samples": 5}``.

An override names a field as `section.field` (``generate.samples``,
``experiment.seed``, ``runtime.concurrency``) or, for named parts,
`section.name.parameter` (``model.solver.error_rate``,
``dataset.sums.limit``, ``judge.correctness.rubric``, ``score.exact_match.
ignore_case``, ``reduce.by``, ``parse.pattern``). Component parameters are
validated against the component's schema, like values written in the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from evalspec.compiler import ir
from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic, suggest
from evalspec.runtime import registry

__all__ = ["apply_overrides"]

_SIMPLE = {
    "experiment": ("seed",),
    "generate": ("samples",),
    "runtime": ("concurrency", "rate", "retries", "timeout"),
}
_DATASET = ("limit", "sample", "sample_seed")


def apply_overrides(program: ir.Program, overrides: Mapping[str, Any]) -> ir.Program:
    """Return `program` with every override applied; raise SpecError on any bad one."""
    diagnostics: list[Diagnostic] = []
    for path, value in overrides.items():
        try:
            program = _apply(program, path, value)
        except _OverrideError as exc:
            diagnostics.append(_diagnostic(path, str(exc), exc.help))
    if diagnostics:
        raise SpecError(diagnostics)

    return program


class _OverrideError(Exception):
    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


def _diagnostic(path: str, message: str, help_text: str | None) -> Diagnostic:
    return Diagnostic(
        file="<overrides>",
        line=1,
        column=1,
        end_line=1,
        end_column=len(path) + 1,
        message=message,
        help=help_text,
        source_line=path,
    )


def _unknown(what: str, name: str, known: Any) -> _OverrideError:
    near = suggest(name, list(known))
    help_text = f"did you mean `{near}`?" if near else None
    if help_text is None and known:
        help_text = "known: " + ", ".join(f"`{k}`" for k in known)

    return _OverrideError(f"unknown {what} `{name}` in override", help_text)


def _apply(program: ir.Program, path: str, value: Any) -> ir.Program:
    section, _, rest = path.partition(".")
    if section in _SIMPLE:
        if rest not in _SIMPLE[section]:
            raise _unknown(f"`{section}` field", rest, _SIMPLE[section])
        node = getattr(program, section)
        return _replace(program, section, _update(node, rest, value, path))
    if section == "dataset":
        return _dataset(program, rest, value, path)
    if section in ("model", "judge"):
        return _named_component(program, section, rest, value, path)
    if section == "score":
        return _score(program, rest, value, path)
    if section in ("reduce", "parse"):
        node = getattr(program, section)
        return _replace(program, section, _param(node, rest, value))
    sections = [*_SIMPLE, "dataset", "model", "judge", "score", "reduce", "parse"]
    raise _unknown("section", section, sections)


def _replace(program: ir.Program, field: str, node: Any) -> ir.Program:
    return program.model_copy(update={field: node})


def _update(node: ir.Node, field: str, value: Any, path: str) -> ir.Node:
    data = node.model_dump()
    data[field] = value
    try:
        return type(node).model_validate(data)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].lower()
        raise _OverrideError(f"invalid value for `{path}`: {message}") from None


def _split(rest: str, kind: str) -> tuple[str, str]:
    name, _, field = rest.partition(".")
    if not name or not field:
        raise _OverrideError(f"a {kind} override reads `{kind}.NAME.FIELD`")

    return name, field


def _dataset(program: ir.Program, rest: str, value: Any, path: str) -> ir.Program:
    name, field = _split(rest, "dataset")
    names = [d.name for d in program.datasets]
    if name not in names:
        raise _unknown("dataset", name, names)
    if field not in _DATASET:
        raise _unknown("dataset field", field, _DATASET)
    datasets = tuple(
        _update(d, field, value, path) if d.name == name else d
        for d in program.datasets
    )

    return _replace(program, "datasets", datasets)


def _named_component(
    program: ir.Program, section: str, rest: str, value: Any, path: str
) -> ir.Program:
    name, field = _split(rest, section)
    nodes = program.models if section == "model" else program.judges
    names = [n.name for n in nodes]
    if name not in names:
        raise _unknown(section, name, names)
    if section == "judge" and field == "model":
        if value not in [m.name for m in program.models]:
            raise _unknown("model", str(value), [m.name for m in program.models])
        updated = tuple(
            n.model_copy(update={"model": value}) if n.name == name else n
            for n in nodes
        )
    else:
        updated = tuple(
            (
                n.model_copy(update={"component": _param(n.component, field, value)})
                if n.name == name
                else n
            )
            for n in nodes
        )

    return _replace(program, "models" if section == "model" else "judges", updated)


def _score(program: ir.Program, rest: str, value: Any, path: str) -> ir.Program:
    name, field = _split(rest, "score")
    names = [s.id for s in program.scores]
    if name not in names:
        raise _unknown("metric", name, names)
    scores = tuple(
        _param(s, field, value) if s.id == name else s for s in program.scores
    )

    return _replace(program, "scores", scores)


def _param(node: ir.ComponentNode, field: str, value: Any) -> ir.ComponentNode:
    cls = registry.get(node.kind, node.id)
    fields = cls.Params.model_fields
    if field not in fields:
        raise _unknown(f"parameter of {node.kind} `{node.id}`", field, fields)
    params = {**node.params, field: value}
    try:
        validated = cls.Params(**params)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].lower()
        msg = f"invalid value for `{field}` of {node.kind} `{node.id}`: {message}"
        raise _OverrideError(msg) from None
    clean = validated.model_dump(mode="json", exclude_defaults=True)

    return node.model_copy(
        update={"params": {k: clean[k] for k in params if k in clean}}
    )
