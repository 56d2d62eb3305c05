"""What every lowering step shares: the statement, the state, block readers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lark import Token, Tree

from evalspec.compiler import ir
from evalspec.compiler.values import Pair, Span, ValueReader, describe, span_of
from evalspec.grammar.diagnostics import Diagnostic, Source, did_you_mean

__all__ = [
    "WORDS",
    "FieldUse",
    "Lowering",
    "Statement",
    "Turn",
    "block_pairs",
    "known",
    "listing",
    "named",
    "reason",
    "special",
    "typed",
]

_BLOCK_KEYS = {
    "experiment": ("description", "seed", "tags"),
    "dataset": ("from", "format", "id", "rename", "limit", "sample", "seed", "case"),
    "generate": ("model", "prompt", "samples"),
    "runtime": ("concurrency", "rate", "retries", "timeout", "stages", "providers"),
}
#: How a diagnostic names the values of each Python type.
WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "`true` or `false`",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "a map",
}

N = TypeVar("N")


@dataclass
class Statement:
    """A top-level statement with the reader of the file it came from."""

    kind: str
    tree: Tree[Token]
    reader: ValueReader

    @property
    def span(self) -> Span:
        return span_of(self.tree)

    @property
    def source(self) -> Source:
        return self.reader.source

    def child(self, index: int) -> Tree[Token]:
        """Return child `index` of the statement, known to be a tree."""
        node = self.tree.children[index]
        assert isinstance(node, Tree)
        return node

    def ir_span(self, span: Span | None = None) -> ir.Span:
        line, column, end_line, end_column = span or self.span
        return ir.Span(
            file=self.source.path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
        )


@dataclass(frozen=True)
class Turn:
    """A prompt template and where it was written, for placeholder checks."""

    prompt: str
    text: str
    span: Span
    reader: ValueReader


@dataclass(frozen=True)
class FieldUse:
    """A component parameter naming case fields, for the field check."""

    key: str
    names: tuple[str, ...]
    span: Span
    reader: ValueReader


@dataclass
class Lowering:
    """The state of lowering one spec: diagnostics and what statements use."""

    path: str
    text: str
    spec_dir: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    env_names: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    field_uses: list[FieldUse] = field(default_factory=list)
    declared: dict[str, set[str]] = field(default_factory=dict)
    unparsed: bool = False

    @classmethod
    def of(cls, path: str, text: str) -> Lowering:
        """Return the starting state for the spec `text` read from `path`."""
        spec_dir = Path(path).resolve().parent if path != "<spec>" else Path.cwd()

        return cls(path, text, spec_dir)

    def error(self, span: Span, message: str, **extra: Any) -> None:
        """Record a diagnostic about the main spec file."""
        source = Source(self.path, self.text)
        self.diagnostics.append(Diagnostic.at(source, span, message, **extra))

    def missing(self, kind: str, example: str) -> None:
        """Report a statement the spec lacks, at the end of the file."""
        if self.unparsed:
            # The statement may well be in the part that did not parse.
            return
        self.error(
            Source(self.path, self.text).end_span(),
            f"the spec has no `{kind}` statement",
            help=f"add one, for example `{example}`",
        )


def named(
    state: Lowering,
    statements: list[Statement],
    build: Callable[[Statement, str], N | None],
    kind: str,
) -> dict[str, N]:
    """Return the nodes `build` makes of named statements, by name."""
    result: dict[str, N] = {}
    seen = state.declared.setdefault(kind, set())
    for statement in statements:
        name_token = statement.tree.children[0]
        name = str(name_token)
        if name in seen:
            statement.reader.error(
                span_of(name_token),
                f"duplicate {kind} name `{name}`",
                help=f"rename one of the {kind}s",
            )
            continue
        seen.add(name)
        node = build(statement, name)
        if node is not None:
            result[name] = node

    return result


def block_pairs(statement: Statement, kind: str, pairs: list[Pair]) -> dict[str, Pair]:
    """Return a block's pairs by key, reporting unknown and repeated keys."""
    keys = _BLOCK_KEYS[kind]
    result: dict[str, Pair] = {}
    for pair in pairs:
        if pair.key not in keys:
            statement.reader.error(
                pair.key_span,
                f"unknown key `{pair.key}` in `{kind}`",
                expected="one of " + ", ".join(f"`{k}`" for k in keys),
                help=did_you_mean(pair.key, keys),
            )
        elif pair.key in result and pair.key != "case":
            statement.reader.error(
                pair.key_span,
                f"duplicate key `{pair.key}` in `{kind}`",
                help="each key may appear once in a block",
            )
        else:
            result.setdefault(pair.key, pair)

    return result


def special(
    statement: Statement, pairs: list[Pair], keys: tuple[str, ...]
) -> dict[str, Pair]:
    """Return the first pair of each of `keys`, reporting repeats."""
    found: dict[str, Pair] = {}
    for pair in pairs:
        if pair.key not in keys:
            continue
        if pair.key in found:
            statement.reader.error(
                pair.key_span,
                f"duplicate key `{pair.key}` in `{statement.kind}`",
                help="each key may appear once in a block",
            )
            continue
        found[pair.key] = pair

    return found


def typed(statement: Statement, pairs: Mapping[str, Pair], key: str, kind: type) -> Any:
    """Return the value of `key` when it has type `kind`, else report it."""
    pair = pairs.get(key)
    if pair is None:
        return None
    value = pair.value.value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = WORDS[kind.__name__]
        statement.reader.error(
            pair.value.span,
            f"`{key}` must be {expected}, not {describe(value)}",
            expected=expected,
        )
        return None

    return value


def known(reader: ValueReader, name: str, span: Span, kind: str, declared: Any) -> bool:
    """Say whether `name` is declared; report it when it is not."""
    if name in declared:
        return True
    reader.error(
        span,
        f"unknown {kind} `{name}`",
        expected=f"a {kind} name",
        help=did_you_mean(name, declared) or f"declare it with `{kind} {name} ...`",
    )

    return False


def listing(names: list[str]) -> str:
    """Return `names` joined with commas, the tail cut after ten."""
    shown = ", ".join(names[:10])

    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def reason(exc: BaseException) -> str:
    """Return why `exc` happened, in the words of a diagnostic."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()

    return str(exc) or type(exc).__name__
