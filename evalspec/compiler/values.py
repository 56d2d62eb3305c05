"""Turn parse-tree values into plain Python values, with their spans."""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree

from evalspec.grammar.diagnostics import Diagnostic, Source, Span

__all__ = [
    "Pair",
    "Ref",
    "Span",
    "Value",
    "ValueReader",
    "describe",
    "plain",
    "span_of",
]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Ref:
    """A bare name in value position: a reference to a declared name or a field."""

    name: str


@dataclass(frozen=True, slots=True)
class Value:
    """A decoded value and where it was written."""

    value: Any
    span: Span
    items: tuple[Value, ...] = ()
    """The items of a list, each with its own span."""


@dataclass(frozen=True, slots=True)
class Pair:
    """A `key value` entry, or a named section (`case c1 { ... }`)."""

    key: str
    key_span: Span
    value: Value
    section: tuple[str, list[Pair]] | None = None


def span_of(node: Tree[Token] | Token) -> Span:
    """Return the (line, column, end_line, end_column) of a tree or token."""
    if isinstance(node, Token):
        return (
            node.line or 1,
            node.column or 1,
            node.end_line or 1,
            node.end_column or 1,
        )
    meta = node.meta
    if getattr(meta, "empty", True):
        return (1, 1, 1, 1)

    return (meta.line, meta.column, meta.end_line, meta.end_column)


class ValueReader:
    """Decode values of one source file, collecting diagnostics as it goes."""

    def __init__(self, source: Source, diagnostics: list[Diagnostic]) -> None:
        self.source = source
        self.diagnostics = diagnostics

    def error(self, span: Span, message: str, **extra: Any) -> None:
        """Record an error diagnostic at `span`."""
        self.diagnostics.append(Diagnostic.at(self.source, span, message, **extra))

    def block(self, tree: Tree[Token]) -> list[Pair]:
        """Return the entries of a `block` tree in order."""
        pairs = []
        for entry in tree.children:
            assert isinstance(entry, Tree)
            key = entry.children[0]
            assert isinstance(key, Token)
            if entry.data == "pair":
                value = self.value(entry.children[1])
                pairs.append(Pair(str(key), span_of(key), value))
            else:
                name = entry.children[1]
                body = entry.children[2]
                assert isinstance(name, Token) and isinstance(body, Tree)
                value = Value(str(name), span_of(name))
                section = (str(name), self.block(body))
                pairs.append(Pair(str(key), span_of(key), value, section))

        return pairs

    def value(self, node: Tree[Token] | Token) -> Value:
        """Return the decoded value of a value node."""
        span = span_of(node)
        if isinstance(node, Token):
            return Value(Ref(str(node)), span)
        kind = node.data
        if kind == "string":
            return Value(self.string(node.children[0]), span)
        if kind == "number":
            return Value(self._number(node.children[0]), span)
        if kind in ("true", "false"):
            return Value(kind == "true", span)
        if kind == "ref":
            return Value(Ref(str(node.children[0])), span)
        if kind == "list":
            items = tuple(self.value(c) for c in node.children)
            return Value([item.value for item in items], span, items)
        if kind == "map":
            return Value(self._map(node), span)
        if kind == "range":
            low, high = (self.value(c).value for c in node.children)
            return Value([low, high], span)
        if kind == "env":
            return Value({"$env": self.value(node.children[0]).value}, span)
        if kind == "python_ref":
            return Value({"$python": self.value(node.children[0]).value}, span)
        msg = f"unknown value node {kind}"
        raise AssertionError(msg)

    def _map(self, node: Tree[Token]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for item in node.children:
            assert isinstance(item, Tree)
            key_node, value_node = item.children
            key = self.value(key_node).value
            key = key.name if isinstance(key, Ref) else key
            if key in result:
                self.error(span_of(key_node), f"duplicate key `{key}` in map")
            result[key] = self.value(value_node).value

        return result

    def _number(self, token: Tree[Token] | Token) -> int | float:
        assert isinstance(token, Token)
        try:
            number = int(token) if token.type == "INT" else float(token)
        except ValueError:
            number = math.inf
        if math.isinf(number):
            self.error(span_of(token), f"number `{token}` is too large")
            return 0

        return number

    def string(self, token: Tree[Token] | Token) -> str:
        """Return the text of a string token: escapes decoded, long text dedented."""
        assert isinstance(token, Token)
        raw = str(token)
        if token.type == "RAW_STRING":
            return raw[2:-1]
        if token.type == "RAW_LONG_STRING":
            return _dedent(raw[4:-3])
        if token.type == "LONG_STRING":
            return _dedent(self._unescape(raw[3:-3], token))

        return self._unescape(raw[1:-1], token)

    def _unescape(self, body: str, token: Token) -> str:
        def replace(match: re.Match[str]) -> str:
            code = match.group(1)
            if code in _ESCAPES:
                return _ESCAPES[code]
            if code[0] in "uU" and len(code) > 1:
                point = int(code[1:], 16)
                if point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
                    return chr(point)
                self.error(span_of(token), f"escape `\\{code}` is not a character")
                return ""
            self.error(
                span_of(token),
                f"unknown escape `\\{code}` in string",
                help='write `\\\\` for a backslash, or use a raw string r"..."',
            )
            return code

        return _ESCAPE.sub(replace, body)


def describe(value: Any) -> str:
    """Return a value's kind as a diagnostic names it."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Ref):
        return f"the name `{value.name}`"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict) and "$env" in value:
        return "an `env(...)` value"
    if isinstance(value, dict) and "$python" in value:
        return "a Python reference"

    return "a map"


def plain(value: Any) -> Any:
    """Return `value` with references turned into their names."""
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}

    return value


def _dedent(text: str) -> str:
    """Return long-string text without its common indentation.

    A newline right after the opening quotes and the whitespace-only line
    before the closing quotes are dropped, so a prompt reads as written.
    """
    if text.startswith("\n"):
        text = text[1:]
    elif text.startswith("\r\n"):
        text = text[2:]
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        lines = lines[:-1]

    return textwrap.dedent("\n".join(lines))
