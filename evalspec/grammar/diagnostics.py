"""Diagnostics: positioned, compiler-style messages about a spec.

Rendered, a diagnostic reads::

    specs/demo.evalspec:4:9: error: unknown reducer `majorty_vote`
      |
    4 | reduce majorty_vote
      |        ^^^^^^^^^^^^
      = expected a reducer id
    help: did you mean `majority_vote`?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Diagnostic", "Source", "Span", "did_you_mean", "suggest"]

Severity = Literal["error", "warning"]

#: A (line, column, end_line, end_column) range, 1-based, end exclusive.
Span = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Source:
    """A spec's text with the name it is reported under."""

    path: str
    text: str

    def line(self, number: int) -> str:
        """Return line `number` (1-based) without its newline, or ''."""
        lines = self.text.split("\n")
        if 1 <= number <= len(lines):
            return lines[number - 1].rstrip("\r")

        return ""

    def offset(self, line: int, column: int) -> int:
        """Return the index in the text of a 1-based (line, column)."""
        index = 0
        for _ in range(line - 1):
            index = self.text.find("\n", index) + 1

        return index + column - 1

    def position(self, index: int) -> tuple[int, int]:
        """Return the 1-based (line, column) of an index in the text."""
        line_start = self.text.rfind("\n", 0, index) + 1

        return self.text.count("\n", 0, index) + 1, index - line_start + 1

    def end_span(self) -> Span:
        """Return the one-column span just past the last non-blank character."""
        lines = self.text.rstrip().split("\n")
        line, column = len(lines), len(lines[-1]) + 1

        return (line, column, line, column + 1)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error or warning at a span of a spec file (1-based, end exclusive)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    severity: Severity = "error"
    expected: str | None = None
    help: str | None = None
    source_line: str = ""

    @classmethod
    def at(
        cls,
        source: Source,
        span: Span,
        message: str,
        *,
        expected: str | None = None,
        help: str | None = None,
        severity: Severity = "error",
    ) -> Diagnostic:
        """Return a diagnostic at `span` = (line, column, end_line, end_column)."""
        line, column, end_line, end_column = span

        return cls(
            file=source.path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
            message=message,
            severity=severity,
            expected=expected,
            help=help,
            source_line=source.line(line),
        )

    @property
    def sort_key(self) -> tuple[str, int, int]:
        """Return the key that orders diagnostics by position."""
        return (self.file, self.line, self.column)

    def render(self, color: bool = False) -> str:
        """Return the diagnostic as compiler-style text."""
        red, bold, blue, reset = (
            ("\x1b[31m", "\x1b[1m", "\x1b[34m", "\x1b[0m") if color else ("",) * 4
        )
        # Line 0 is the file as a whole (it cannot be read): no position, no excerpt.
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        head = (
            f"{bold}{where}: "
            f"{red}{self.severity}{reset}{bold}: {self.message}{reset}"
        )
        gutter = " " * len(str(self.line))
        lines = [head]
        if self.line:
            text = self.source_line.expandtabs(1)
            width = self._caret_width(len(text))
            lines += [
                f"{blue}{gutter} |{reset}",
                f"{blue}{self.line} |{reset} {text}",
                f"{blue}{gutter} |{reset} {' ' * (self.column - 1)}"
                f"{red}{'^' * width}{reset}",
            ]
        if self.expected:
            lines.append(f"{blue}{gutter} ={reset} expected {self.expected}")
        if self.help:
            lines.append(f"{bold}help{reset}: {self.help}")

        return "\n".join(lines)

    def _caret_width(self, line_length: int) -> int:
        if self.end_line == self.line and self.end_column > self.column:
            return self.end_column - self.column

        return max(1, line_length - self.column + 1)

    def to_json(self) -> dict[str, Any]:
        """Return the diagnostic as the object `evalspec check --json` prints."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end": {"line": self.end_line, "column": self.end_column},
            "severity": self.severity,
            "message": self.message,
            "expected": self.expected,
            "help": self.help,
        }


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """Return the help text "did you mean `x`?" when `name` is close to one `x`."""
    near = suggest(name, known)

    return f"did you mean `{near}`?" if near else None


def suggest(name: str, known: Iterable[str]) -> str | None:
    """Return the one known name within edit distance 2 of `name`, if any."""
    candidates = [k for k in known if _distance(name, k) <= 2 and k != name]
    if not candidates:
        return None
    candidates.sort(
        key=lambda k: (
            _distance(name, k),
            -difflib.SequenceMatcher(None, name, k).ratio(),
        )
    )
    best = candidates[0]
    ties = [k for k in candidates if _distance(name, k) == _distance(name, best)]

    return best if len(ties) == 1 or len(name) > 3 else None


def _distance(a: str, b: str) -> int:
    """Return the Levenshtein distance between `a` and `b`."""
    if abs(len(a) - len(b)) > 2:
        return 3
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            )
        previous = current

    return previous[-1]
