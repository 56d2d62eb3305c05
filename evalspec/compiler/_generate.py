"""Lower what generates and judges: `model`, `generate` and `judge` statements."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from evalspec.compiler import ir
from evalspec.compiler._components import component
from evalspec.compiler._context import (
    Lowering,
    Statement,
    block_pairs,
    known,
    special,
    typed,
)
from evalspec.compiler.values import Pair, Ref, Value, describe, span_of

__all__ = ["judge_builder", "lower_generate", "lower_model"]


def lower_model(
    state: Lowering, statement: Statement, name: str
) -> ir.ModelNode | None:
    """Return the node of a `model` statement, or None when it has errors."""
    pairs = statement.reader.block(statement.child(1))
    use = special(statement, pairs, ("use",)).get("use")
    if use is None:
        statement.reader.error(
            span_of(statement.tree.children[0]),
            f"model `{name}` does not say which model to `use`",
            help="add `use noisy_oracle`, `use openai` or `use python ...`",
        )
        return None
    params = [p for p in pairs if p.key != "use"]
    node = component(state, statement, "model", use.value, params)
    if node is None:
        return None

    return ir.ModelNode(name=name, component=node)


def lower_generate(
    state: Lowering, statements: list[Statement]
) -> ir.GenerateNode | None:
    """Return the node of the `generate` statement: every model with every prompt."""
    if not statements:
        state.missing("generate", "generate { model solver  prompt ask }")
        return None
    statement = statements[0]
    block = statement.reader.block(statement.child(0))
    pairs = block_pairs(statement, "generate", block)
    chosen = {
        "model": _references(state, statement, pairs, "model"),
        "prompt": _references(state, statement, pairs, "prompt"),
    }
    samples = typed(statement, pairs, "samples", int)
    if samples is not None and samples < 1:
        statement.reader.error(
            pairs["samples"].value.span, "`samples` must be at least 1"
        )
    if not chosen["model"] or not chosen["prompt"]:
        return None
    subjects = tuple(
        ir.SubjectNode(name=f"{m}/{p}", model=m, prompt=p)
        for m in chosen["model"]
        for p in chosen["prompt"]
    )

    return ir.GenerateNode(
        subjects=subjects, samples=samples or 1, span=statement.ir_span()
    )


def _references(
    state: Lowering, statement: Statement, pairs: Mapping[str, Pair], key: str
) -> list[str]:
    """Return the declared names `key` lists, reporting unknown ones."""
    pair = pairs.get(key)
    if pair is None:
        statement.reader.error(
            span_of(statement.tree.children[0]),
            f"`generate` needs a `{key}`",
            help=f"add `{key} NAME` naming a declared {key}",
        )
        return []
    items = pair.value.items or (pair.value,)
    names = []
    for item in items:
        value = item.value
        if not isinstance(value, Ref):
            statement.reader.error(
                item.span,
                f"`{key}` must name a {key}, not {describe(value)}",
                expected=f"a {key} name, or a list of them",
            )
        elif known(statement.reader, value.name, item.span, key, state.declared[key]):
            names.append(value.name)

    return names


def judge_builder(
    state: Lowering, models: Mapping[str, ir.ModelNode]
) -> Callable[[Statement, str], ir.JudgeNode | None]:
    """Return a function that lowers a `judge` statement grading with `models`."""

    def build(statement: Statement, name: str) -> ir.JudgeNode | None:
        return _judge(state, models, statement, name)

    return build


def _judge(
    state: Lowering,
    models: Mapping[str, ir.ModelNode],
    statement: Statement,
    name: str,
) -> ir.JudgeNode | None:
    """Return the node of a `judge` statement, or None when it has errors."""
    pairs = statement.reader.block(statement.child(1))
    found = special(statement, pairs, ("model", "use"))
    name_span = span_of(statement.tree.children[0])
    use = found.get("use")
    head = use.value if use else Value(Ref("rubric"), name_span)
    params = [p for p in pairs if p.key not in found]
    node = component(state, statement, "judge", head, params)
    model = _judge_model(state, statement, name, found.get("model"))
    if model is None or node is None or model not in models:
        return None

    return ir.JudgeNode(name=name, model=model, component=node)


def _judge_model(
    state: Lowering, statement: Statement, name: str, model: Pair | None
) -> str | None:
    """Return the declared model judge `name` grades with, or report it."""
    reader = statement.reader
    if model is None:
        reader.error(
            span_of(statement.tree.children[0]),
            f"judge `{name}` needs a `model`",
            help="add `model NAME` naming a declared model",
        )
        return None
    ref = model.value.value
    if not isinstance(ref, Ref):
        reader.error(
            model.value.span,
            f"`model` must name a model, not {describe(ref)}",
            expected="a model name",
        )
        return None
    if not known(reader, ref.name, model.value.span, "model", state.declared["model"]):
        return None

    return ref.name
