"""Parse .evalspec text into a lark `Tree`, or into syntax diagnostics."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic, Source, Span, did_you_mean

__all__ = ["MAX_DEPTH", "STATEMENTS", "ParsedSpec", "parse"]

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

#: How deeply blocks, lists and maps may nest; deeper input is a diagnostic.
MAX_DEPTH = 48

_AFTER_KEY = "a value after the key"
_STATEMENT_TERMINALS = {"MODEL", "DATASET", "PROMPT", "SCORE"}
_STRINGS = {"STRING", "LONG_STRING", "RAW_STRING", "RAW_LONG_STRING"}
_WORDS = {
    **{name: "a string" for name in _STRINGS},
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "$END": "the end of the file",
}

# Broken snippets that end where a common mistake puts the parser, each with
# what the parser wanted there, in words. Like lark's `match_examples`, the
# table is keyed by the LALR state each snippet fails in; it is built once.
# Each snippet ends in a keyword, a name or an opening bracket, whose states
# are specific; states after a whole value are shared by every context and
# are told apart by the innermost open bracket instead (see `_enclosing`).
_EXAMPLES = {
    "an experiment name": ["experiment"],
    "`{` to open the experiment block": ["experiment e"],
    "a dataset name": ["dataset"],
    "`{` to open the dataset block": ["dataset d"],
    "a model name": ["model"],
    "`{` to open the model block": ["model m"],
    "a prompt name": ["prompt"],
    "a string, or `{` to open the prompt's chat turns": ["prompt p"],
    "`{` to open the generate block": ["generate"],
    "`{` to open the runtime block": ["runtime"],
    "a judge name": ["judge"],
    "`{` to open the judge block": ["judge j"],
    'a reducer id, or `python "module:attr"`': ["reduce"],
    'a parser id, or `python "module:attr"`': ["parse"],
    'a metric id, or `python "module:attr"`': ["score"],
    "a string naming the file to include": ["include"],
    "a key, or `}` to close the block": ["generate {"],
    _AFTER_KEY: ["generate { a"],
    "`{` to open the section": ["generate { a b c"],
    "`(` after `env`": ["generate { a env"],
    "a string naming the environment variable": ["generate { a env("],
    "`)` to close `env(...)`": ['generate { a env("X"'],
    'a string such as "module:attr"': ["reduce python"],
    "a number to end the range": ["generate { a 1 to"],
    "a value, or `]` to close the list": ["generate { a ["],
    "a key, or `}` to close the map": ["generate { a { "],
    "`:` after the map key": ["generate { a { k"],
    "a value after `:`": ["generate { a { k:"],
}


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    """A parse tree with the comments the parser skipped, for the formatter."""

    source: Source
    tree: Tree[Token]
    comments: tuple[Token, ...]


_comments: ContextVar[list[Token]] = ContextVar("_comments")


def _collect_comment(token: Token) -> Token:
    _comments.get().append(token)

    return token


@cache
def _parser(concrete: bool) -> Lark:
    grammar = files("evalspec.grammar").joinpath("evalspec.lark").read_text()

    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        keep_all_tokens=concrete,
        lexer_callbacks={"COMMENT": _collect_comment},
        start="start",
    )


def parse(text: str, path: str = "<spec>", *, concrete: bool = False) -> ParsedSpec:
    """Return the parse tree of `text`; raise SpecError on a syntax error.

    With `concrete`, the tree keeps every token, punctuation and keywords
    included, as the formatter needs; otherwise it holds only what means
    something.
    """
    source = Source(path, text)
    collected: list[Token] = []
    reset = _comments.set(collected)
    try:
        tree = _parser(concrete).parse(text)
    except UnexpectedInput as exc:
        if concrete:
            # The labels in `_EXAMPLES` know the states of the plain parser.
            parse(text, path)
        raise SpecError([_diagnose(source, exc)]) from None
    finally:
        _comments.reset(reset)
    too_deep = _too_deep(tree)
    if too_deep is not None:
        message = f"values nest more than {MAX_DEPTH} levels deep"
        raise SpecError([Diagnostic.at(source, too_deep, message)])

    return ParsedSpec(source, tree, tuple(collected))


def _too_deep(tree: Tree[Token]) -> Span | None:
    """Return where `tree` nests deeper than MAX_DEPTH, or None."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return (node.meta.line, node.meta.column, node.meta.line, node.meta.column)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))

    return None


# -- syntax diagnostics ---------------------------------------------------------


def _diagnose(source: Source, exc: UnexpectedInput) -> Diagnostic:
    """Return the diagnostic for a lark syntax error, in the user's words."""
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(source, exc)
    token = getattr(exc, "token", None)
    if token is None or token.type == "$END":
        return _unexpected_end(source, exc)
    span = (
        token.line or exc.line,
        token.column or exc.column,
        token.end_line or exc.line,
        token.end_column or exc.column + 1,
    )
    expected = _expected(exc)
    if token.type == "NAME" and _terminals(exc) >= _STATEMENT_TERMINALS:
        expected = "a statement: " + ", ".join(f"`{s}`" for s in STATEMENTS)
        help_text = did_you_mean(str(token), STATEMENTS)
        message = f"unknown statement `{token}`"
        return Diagnostic.at(source, span, message, expected=expected, help=help_text)
    help_text = None
    if str(token) == ":" and (expected or "").startswith("a value after"):
        help_text = "a pair reads `key value`, without `:`"

    message = f"unexpected {_describe_token(token)}"
    return Diagnostic.at(source, span, message, expected=expected, help=help_text)


def _unexpected_character(source: Source, exc: UnexpectedCharacters) -> Diagnostic:
    position = exc.pos_in_stream or 0
    char = source.text[position] if position < len(source.text) else ""
    span = (exc.line, exc.column, exc.line, exc.column + 1)
    expected = _expected(exc)
    help_text = None
    if char == '"':
        opening = source.text.rfind('"""', max(0, position - 2), position + 1)
        if opening != -1 and source.text.startswith('"""', opening):
            column = exc.column - (position - opening)
            span = (exc.line, column, exc.line, column + 3)
            message = "unterminated triple-quoted string"
            expected = 'a closing `"""`'
        else:
            message = "unterminated string"
            expected = 'a closing `"` on the same line, or `"""` for text over lines'
    elif char == "=":
        message = "unexpected `=`"
        help_text = "a pair reads `key value`, without `=`"
    elif char.isprintable():
        message = f"unexpected character `{char}`"
    else:
        message = (
            f"unexpected character U+{ord(char):04X}" if char else "unexpected input"
        )

    return Diagnostic.at(source, span, message, expected=expected, help=help_text)


def _unexpected_end(source: Source, exc: UnexpectedInput) -> Diagnostic:
    help_text = None
    unclosed = _unclosed(exc)
    if unclosed is not None:
        help_text = (
            f"the `{unclosed}` at line {unclosed.line}, column {unclosed.column} "
            "is never closed"
        )

    return Diagnostic.at(
        source,
        source.end_span(),
        "unexpected end of file",
        expected=_expected(exc),
        help=help_text,
    )


def _unclosed(exc: UnexpectedInput) -> Token | None:
    """Return the innermost bracket still open when the input ended."""
    stack = getattr(getattr(exc, "state", None), "value_stack", None) or []
    opening = [
        item
        for item in stack
        if isinstance(item, Token) and item.type in ("LBRACE", "LSQB", "LPAR")
    ]

    return opening[-1] if opening else None


def _state(exc: UnexpectedInput) -> int | None:
    state = getattr(exc, "state", None)

    return getattr(state, "position", None)


@cache
def _labels_by_state() -> dict[int, str]:
    """Return the label of each example's failing state."""
    labels: dict[int, str] = {}
    for label, examples in _EXAMPLES.items():
        for example in examples:
            state = _failing_state(example)
            if state is not None:
                labels.setdefault(state, label)

    return labels


def _failing_state(example: str) -> int | None:
    collected: list[Token] = []
    reset = _comments.set(collected)
    try:
        _parser(False).parse(example)
    except UnexpectedInput as exc:
        return _state(exc)
    finally:
        _comments.reset(reset)

    return None


def _expected(exc: UnexpectedInput) -> str | None:
    state = _state(exc)
    if state is not None and state in _labels_by_state():
        label = _labels_by_state()[state]
        return _after_key(exc) if label == _AFTER_KEY else label
    if _terminals(exc) >= _STATEMENT_TERMINALS:
        return "a statement: " + ", ".join(f"`{s}`" for s in STATEMENTS)

    return _enclosing(exc) or _expected_words(exc)


def _after_key(exc: UnexpectedInput) -> str:
    stack = getattr(getattr(exc, "state", None), "value_stack", None) or []
    key = stack[-1] if stack else None

    return f"a value after `{key}`" if _is_name(key) else _AFTER_KEY


def _enclosing(exc: UnexpectedInput) -> str | None:
    """Return what closes the innermost open bracket, in words."""
    stack = getattr(getattr(exc, "state", None), "value_stack", None) or []
    for index in range(len(stack) - 1, -1, -1):
        item = stack[index]
        if not isinstance(item, Token):
            continue
        if item.type == "LSQB":
            return "`,` or `]` to close the list"
        if item.type == "LPAR":
            return "`)`"
        if item.type == "LBRACE":
            if _opens_map(stack[max(0, index - 2) : index]):
                return "`,` or `}` to close the map"
            return "a key, or `}` to close the block"

    return None


def _opens_map(before: list[object]) -> bool:
    """Say whether the `{` after the items `before` it opens a map."""
    previous = before[-1] if before else None
    if not isinstance(previous, Token):
        return False
    if previous.type in ("COLON", "LSQB", "COMMA"):
        return True
    earlier = before[0] if len(before) == 2 else None
    keyword = isinstance(earlier, Token) and earlier.type.lower() in STATEMENTS

    return previous.type == "NAME" and not keyword and not _is_name(earlier)


def _is_name(item: object) -> bool:
    return isinstance(item, Token) and item.type == "NAME"


def _terminals(exc: UnexpectedInput) -> set[str]:
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None)

    return set(expected or ())


def _expected_words(exc: UnexpectedInput) -> str | None:
    words: list[str] = []
    parser = _parser(False)
    for name in sorted(_terminals(exc)):
        word = _WORDS.get(name)
        if word is None:
            try:
                word = f"`{parser.get_terminal(name).pattern.value}`"
            except KeyError:
                continue
        if word not in words:
            words.append(word)
    if len(words) <= 1:
        return words[0] if words else None

    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(token: Token) -> str:
    if token.type in _STRINGS:
        return "string"
    if token.type in {"INT", "FLOAT"}:
        return f"number `{token}`"
    if token.type == "NAME":
        return f"name `{token}`"

    return f"`{token}`"
