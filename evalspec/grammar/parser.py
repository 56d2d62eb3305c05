"""Parse .evalspec text into a lark `Tree`, or into syntax diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic, Source, suggest

__all__ = ["STATEMENTS", "ParsedSpec", "parse"]

#: The top-level statement keywords, in the order the documentation lists them.
STATEMENTS = (
    "experiment",
    "include",
    "dataset",
    "model",
    "prompt",
    "generate",
    "reduce",
    "parse",
    "score",
    "judge",
    "runtime",
)

_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "RAW_STRING": "a string",
    "RAW_LONG_STRING": "a string",
    "INT": "a number",
    "FLOAT": "a number",
    "$END": "end of file",
}


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    """A parse tree with the comments the parser skipped, for the formatter."""

    source: Source
    tree: Tree[Token]
    comments: tuple[Token, ...]


@cache
def _parser() -> Lark:
    grammar = files("evalspec.grammar").joinpath("evalspec.lark").read_text()

    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start="start",
    )


def parse(text: str, path: str = "<spec>") -> ParsedSpec:
    """Return the parse tree of `text`; raise SpecError on a syntax error."""
    source = Source(path, text)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise SpecError([_diagnose(source, exc)]) from None

    return ParsedSpec(source, tree, tuple(_lex_comments(text)))


def _lex_comments(text: str) -> list[Token]:
    """Return the comment tokens of `text` (already known to lex cleanly)."""
    tokens = _parser().lex(text, dont_ignore=True)

    return [token for token in tokens if token.type == "COMMENT"]


def _diagnose(source: Source, exc: UnexpectedInput) -> Diagnostic:
    """Return the diagnostic for a lark syntax error, in the user's words."""
    line, column = exc.line, exc.column
    expected = _expected_words(exc)
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream is not None else ""
        span = (line, column, line, column + 1)
        message = f"unexpected character `{char}`"
        if char == '"':
            message = "unterminated string"
            expected = 'a closing `"` on the same line, or `"""` for text over lines'
        return Diagnostic.at(source, span, message, expected=expected)
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or token is None or token.type == "$END":
        end_line, end_column = source.end_position()
        span = (end_line, end_column, end_line, end_column + 1)
        return Diagnostic.at(
            source, span, "unexpected end of file", expected=expected
        )
    span = (
        token.line or line,
        token.column or column,
        token.end_line or line,
        token.end_column or column + 1,
    )
    help_text = None
    if token.type == "NAME" and set(_expected_terminals(exc)) <= _statement_terms():
        near = suggest(str(token), STATEMENTS)
        help_text = f"did you mean `{near}`?" if near else None
        message = f"unknown statement `{token}`"
        expected = "a statement: " + ", ".join(f"`{s}`" for s in STATEMENTS)
    else:
        message = f"unexpected {_describe_token(token)}"

    return Diagnostic.at(source, span, message, expected=expected, help=help_text)


def _statement_terms() -> set[str]:
    return {s.upper() for s in STATEMENTS} | {"$END"}


def _expected_terminals(exc: UnexpectedInput) -> list[str]:
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or []
    return sorted(expected)


def _expected_words(exc: UnexpectedInput) -> str | None:
    words: list[str] = []
    parser = _parser()
    for name in _expected_terminals(exc):
        word = _WORDS.get(name)
        if word is None:
            try:
                pattern = parser.get_terminal(name).pattern
            except KeyError:
                continue
            word = f"`{pattern.value}`"
        if word not in words:
            words.append(word)
    if not words:
        return None
    if len(words) == 1:
        return words[0]

    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(token: Token) -> str:
    if token.type in {"STRING", "LONG_STRING", "RAW_STRING", "RAW_LONG_STRING"}:
        return "string"
    if token.type in {"INT", "FLOAT"}:
        return f"number `{token}`"
    if token.type == "NAME":
        return f"name `{token}`"

    return f"`{token}`"
