"""Print a spec in canonical form, keeping every comment and string as written.

The canonical form:

- two spaces of indentation per level, one statement per line, and at most
  one blank line wherever the author left one or more, except directly after
  an opening bracket or before a closing one;
- a block holds one entry per line, except that a block with a single
  `key value` pair that was written on one line stays on one line
  (`score exact_match { expected answer }`) when it fits in 88 columns;
- lists and maps stay on one line (`["a", "b"]`, `{ q: "question" }`) unless
  they hold a comment, do not fit, or were written with a line break right
  after the opening bracket; then they hold one item per line, each followed
  by a comma;
- comments keep their place: a comment that ended a line of code still ends
  that line, two spaces after it; any other comment gets a line of its own;
- strings, numbers and names are printed exactly as written: a string is
  never re-escaped, re-quoted or re-indented.

Only whitespace, commas in lists and maps, and trailing spaces in comments
change, so the formatted text parses to the same tree; formatting formatted
text changes nothing.
"""

from __future__ import annotations

import difflib
from collections import deque

from lark import Token, Tree

from evalspec.grammar.parser import parse

__all__ = ["WIDTH", "format_diff", "format_spec"]

#: The column limit that decides whether a block, list or map fits on a line.
WIDTH = 88

_INDENT = "  "
_CLOSING = {"{": "}", "[": "]"}


def format_spec(text: str, path: str = "<spec>") -> str:
    """Return `text` in canonical form; raise SpecError when it does not parse."""
    parsed = parse(text, path, concrete=True)
    printer = _Printer(_Writer(parsed.comments), parsed.comments)
    for statement in parsed.tree.children:
        assert isinstance(statement, Tree)
        printer.writer.newline(blank_ok=True)
        printer.emit(statement)

    return printer.writer.finish()


def format_diff(old: str, new: str, path: str) -> str:
    """Return a unified diff from `old` to `new`, named after `path`."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=path,
        tofile=f"{path} (formatted)",
    )

    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class _Writer:
    """Lay out tokens in lines, placing comments between them as they come."""

    def __init__(self, comments: tuple[Token, ...]) -> None:
        self.lines: list[str] = []
        self.current = ""
        self.indent = 0
        self.comments = deque(comments)
        self.last_line = 0
        self.break_pending = False
        self.blank_ok = False

    def newline(self, *, blank_ok: bool = False) -> None:
        """Start the next token on a new line, after a blank one if `blank_ok`."""
        self.break_pending = True
        self.blank_ok = blank_ok

    def token(self, token: Token | str, sep: str = " ") -> None:
        """Write `token`, after `sep` when it continues the current line."""
        if isinstance(token, Token) and token.start_pos is not None:
            self.flush(token.start_pos)
        self.write(str(token), sep, _line(token), _end_line(token))

    def write(self, text: str, sep: str, line: int, end_line: int) -> None:
        """Write `text` that began on original `line` and ended on `end_line`."""
        if self.break_pending or not self.current:
            self._start_line(line)
            self.current = _INDENT * self.indent + text
        else:
            self.current += sep + text
        self.break_pending = False
        self.blank_ok = False
        self.last_line = end_line or self.last_line

    def flush(self, position: float) -> None:
        """Write the comments that come before `position` in the original."""
        while self.comments and (self.comments[0].start_pos or 0) < position:
            comment = self.comments.popleft()
            text = str(comment).rstrip()
            if self.current and comment.line == self.last_line:
                self.current += "  " + text
            else:
                self._start_line(comment.line or 0)
                self.current = _INDENT * self.indent + text
                self.last_line = comment.line or self.last_line
            self.break_pending = True

    def column(self, sep: str) -> int:
        """Return the column the next text would start at after `sep`."""
        if self.break_pending or not self.current:
            return len(_INDENT) * self.indent

        return len(self.current.rpartition("\n")[2]) + len(sep)

    def finish(self) -> str:
        """Return the whole text, every remaining comment included."""
        self.blank_ok = True
        self.flush(float("inf"))
        if self.current:
            self.lines.append(self.current)

        return "".join(line + "\n" for line in self.lines)

    def _start_line(self, line: int) -> None:
        if self.current:
            self.lines.append(self.current)
            self.current = ""
        if self.blank_ok and self.lines and line > self.last_line + 1:
            self.lines.append("")


class _Printer:
    """Walk a concrete parse tree and feed its tokens to a `_Writer`."""

    def __init__(self, writer: _Writer, comments: tuple[Token, ...]) -> None:
        self.writer = writer
        self.comment_positions = [c.start_pos or 0 for c in comments]

    def emit(self, node: Tree[Token] | Token | str, sep: str = " ") -> None:
        """Write `node` and everything in it."""
        if not isinstance(node, Tree):
            self.writer.token(node, sep)
            return
        kind = node.data
        if kind in ("block", "list", "map"):
            self._bracketed(node, sep)
        elif kind == "env":
            keyword, *rest = node.children
            self.emit(keyword, sep)
            for child in rest:
                self.emit(child, "")
        elif kind == "map_item":
            key, colon, value = node.children
            self.emit(key, sep)
            self.emit(colon, "")
            self.emit(value)
        else:
            for index, child in enumerate(node.children):
                self.emit(child, sep if index == 0 else " ")

    def _bracketed(self, node: Tree[Token], sep: str) -> None:
        opening, *inner, closing = node.children
        assert isinstance(opening, Token) and isinstance(closing, Token)
        text = self._inline(node)
        if text is not None and self.writer.column(sep) + len(text) <= WIDTH:
            self.writer.flush(opening.start_pos or 0)
            self.writer.write(text, sep, _line(opening), _end_line(closing))
            return
        self.emit(opening, sep)
        self.writer.indent += 1
        comma = node.data != "block"
        items = [child for child in inner if isinstance(child, Tree)]
        for item in items:
            self.writer.newline(blank_ok=not comma)
            self.emit(item)
            if comma:
                self.emit(_comma_after(inner, item), "")
        self.writer.flush(closing.start_pos or 0)
        self.writer.indent -= 1
        self.writer.newline()
        self.emit(closing)

    def _inline(self, node: Tree[Token]) -> str | None:
        """Return `node` on one line, or None when it must span lines."""
        opening, *inner, closing = node.children
        assert isinstance(opening, Token) and isinstance(closing, Token)
        if self._has_comment(opening, closing):
            return None
        items = [child for child in inner if isinstance(child, Tree)]
        if node.data == "block":
            one_line = closing.line == opening.line
            if len(items) > 1 or not one_line or items and items[0].data != "pair":
                return None
        elif items and _line(items[0]) > _line(opening):
            return None
        parts = [_flat(item) for item in items]
        if any("\n" in part for part in parts):
            return None
        if not parts:
            return f"{opening}{closing}"
        if node.data == "list":
            return f"[{', '.join(parts)}]"

        return f"{opening} {', '.join(parts)} {closing}"

    def _has_comment(self, opening: Token, closing: Token) -> bool:
        start, end = opening.start_pos or 0, closing.start_pos or 0

        return any(start < position < end for position in self.comment_positions)


def _flat(node: Tree[Token] | Token) -> str:
    """Return `node` written on one line, the way `_Printer._inline` would."""
    if isinstance(node, Token):
        return str(node)
    children = node.children
    kind = node.data
    if kind in _FLAT_BRACKETED:
        items = [_flat(child) for child in children if isinstance(child, Tree)]
        return _FLAT_BRACKETED[kind](items)
    if kind == "env":
        return "".join(_flat(child) for child in children)
    if kind == "map_item":
        return f"{_flat(children[0])}: {_flat(children[2])}"

    return " ".join(_flat(child) for child in children)


_FLAT_BRACKETED = {
    "block": lambda items: "{ " + " ".join(items) + " }" if items else "{}",
    "map": lambda items: "{ " + ", ".join(items) + " }" if items else "{}",
    "list": lambda items: "[" + ", ".join(items) + "]",
}


def _comma_after(inner: list[Tree[Token] | Token], item: Tree[Token]) -> Token | str:
    """Return the comma token that follows `item`, or a new one when it has none."""
    index = next(i for i, child in enumerate(inner) if child is item)
    following = inner[index + 1] if index + 1 < len(inner) else None
    if isinstance(following, Token) and following.type == "COMMA":
        return following

    return ","


def _line(node: Tree[Token] | Token | str) -> int:
    if isinstance(node, Token):
        return node.line or 0
    if isinstance(node, Tree) and not node.meta.empty:
        return node.meta.line

    return 0


def _end_line(node: Token | str) -> int:
    return (node.end_line or 0) if isinstance(node, Token) else 0
