"""Builtin parsers: pull the answer out of a model's text.

A parser returns the answer it finds or raises `ParseFailure` saying what it
looked for. `apply_parser` runs a parser over a reducer's output, which is
one text or, after `keep_all`, a list of texts.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from evalspec.errors import ComponentError, ParseFailure
from evalspec.runtime.components._text import NUMBER_RE, canonical_number, json_path
from evalspec.runtime.components.base import Params, Parser
from evalspec.runtime.components.python_ref import PythonRef
from evalspec.runtime.registry import register

__all__ = [
    "Boxed",
    "ChoiceLetter",
    "FirstNumber",
    "Json",
    "LastNumber",
    "PythonParser",
    "Regex",
    "Strip",
    "apply_parser",
]


def apply_parser(parser: Parser, reduced: Any) -> tuple[Any, str | None]:
    """Return (parsed value, parse error) for a reducer's output.

    A text gives its parsed value, or None and the failure's message. A list
    of texts (from `keep_all`) gives the list of parsed values, None where a
    text could not be parsed; its error is set only when no text parsed.
    """
    if not isinstance(reduced, list | tuple):
        try:
            return parser.parse(str(reduced)), None
        except ParseFailure as exc:
            return None, str(exc)

    parsed: list[Any] = []
    errors: list[str] = []
    for text in reduced:
        try:
            parsed.append(parser.parse(str(text)))
        except ParseFailure as exc:
            parsed.append(None)
            errors.append(str(exc))
    if reduced and len(errors) == len(reduced):
        return parsed, f"no candidate could be parsed; the first: {errors[0]}"

    return parsed, None


def _excerpt(text: str, width: int = 60) -> str:
    """Return the end of `text`, shortened, for a failure message."""
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = "…" + flat[-width:]

    return repr(flat)


def _number(text: str, index: int) -> str:
    """Return the canonical form of the number at `index` of those in `text`."""
    found = [m.group() for m in NUMBER_RE.finditer(text)]
    if not found:
        msg = f"no number in {_excerpt(text)}"
        raise ParseFailure(msg)

    return canonical_number(found[index])


@register
class LastNumber(Parser):
    """Return the last number in the text, in canonical form.

    Thousands separators are dropped and trailing zeros removed, so
    ``"It costs 1,234.50 dollars"`` parses to ``"1234.5"`` and ``"42.0"`` to
    ``"42"``. A minus sign counts only when it is not a hyphen between two
    words or numbers: ``"5-3"`` holds the numbers 5 and 3.

    Usage::

        parse last_number
    """

    id: ClassVar[str] = "last_number"
    version: ClassVar[str] = "1"

    def parse(self, text: str) -> str:
        """Return the canonical form of the last number in `text`."""
        return _number(text, -1)


@register
class FirstNumber(Parser):
    """Return the first number in the text, in canonical form.

    Numbers are read as `last_number` reads them.

    Usage::

        parse first_number
    """

    id: ClassVar[str] = "first_number"
    version: ClassVar[str] = "1"

    def parse(self, text: str) -> str:
        """Return the canonical form of the first number in `text`."""
        return _number(text, 0)


class StripParams(Params):
    lower: bool = Field(False, description="Lowercase the text.")
    collapse_whitespace: bool = Field(
        False, description="Replace every run of whitespace with one space."
    )


@register
class Strip(Parser):
    """Return the whole text without surrounding whitespace.

    Optionally lowercase it and collapse inner whitespace. An empty or
    all-whitespace text is a parse failure.

    Usage::

        parse strip { lower true  collapse_whitespace true }
    """

    id: ClassVar[str] = "strip"
    version: ClassVar[str] = "1"
    Params = StripParams
    params: StripParams

    def parse(self, text: str) -> str:
        """Return `text` stripped, lowercased and collapsed as configured."""
        result = text.strip()
        if self.params.lower:
            result = result.lower()
        if self.params.collapse_whitespace:
            result = " ".join(result.split())
        if not result:
            msg = "the text is empty"
            raise ParseFailure(msg)

        return result


class RegexParams(Params):
    pattern: str = Field(description="The regular expression (Python syntax).")
    group: int | str | None = Field(
        None,
        description=(
            "The group to return, by number or name; by default group 1 when "
            "the pattern has groups, else the whole match."
        ),
    )
    ignore_case: bool = Field(False, description="Match case-insensitively.")
    which: Literal["first", "last"] = Field(
        "first", description="Use the first or the last match in the text."
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            msg = f"invalid regular expression {pattern!r}: {exc}"
            raise ValueError(msg) from None

        return pattern


@register
class Regex(Parser):
    """Return what a regular expression captures in the text.

    The first match is used, or the last with ``which last``. The result is
    the group named by `group`, by default group 1 when the pattern has
    groups and the whole match otherwise, stripped of surrounding whitespace.

    Usage::

        parse regex { pattern "Final answer: (.+)"  ignore_case true }
    """

    id: ClassVar[str] = "regex"
    version: ClassVar[str] = "1"
    Params = RegexParams
    params: RegexParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        flags = re.IGNORECASE if self.params.ignore_case else 0
        self._pattern = re.compile(self.params.pattern, flags)

    def parse(self, text: str) -> str:
        """Return the configured group of the first (or last) match in `text`."""
        matches = list(self._pattern.finditer(text))
        if not matches:
            msg = f"no match for /{self.params.pattern}/ in {_excerpt(text)}"
            raise ParseFailure(msg)

        match = matches[0] if self.params.which == "first" else matches[-1]
        group = self.params.group
        if group is None:
            group = 1 if self._pattern.groups else 0
        try:
            value = match.group(group)
        except IndexError:
            msg = f"the pattern /{self.params.pattern}/ has no group {group!r}"
            raise ComponentError(msg) from None
        if value is None:
            msg = f"group {group!r} of /{self.params.pattern}/ did not take part"
            raise ParseFailure(msg)

        return value.strip()


class ChoiceLetterParams(Params):
    letters: str = Field(
        "ABCDEFGHIJ", description="The option letters, in order, e.g. `ABCD`."
    )

    @field_validator("letters")
    @classmethod
    def _letters(cls, letters: str) -> str:
        upper = letters.upper()
        if not upper.isalpha() or not upper.isascii() or len(set(upper)) != len(upper):
            msg = f"letters must be distinct ASCII letters, not {letters!r}"
            raise ValueError(msg)

        return upper


@register
class ChoiceLetter(Parser):
    """Return the letter of the option a multiple-choice answer picks.

    It looks, in order, for an explicit statement (``"the answer is C"``,
    ``"Answer: (c)"``; the last one counts), a text that is only a letter
    (``"b"``, ``"(B)"``, ``"B."``), a capital letter opening the text (``"B)
    because …"``), and a capital letter in parentheses (the last one
    counts). Failing those,
    a single distinct capital option letter standing alone in the text is
    the answer (the pronoun "I" does not count); several make the answer
    ambiguous, a parse failure. Only the letters in `letters` count, and the
    result is uppercase.

    Usage::

        parse choice_letter { letters "ABCD" }
    """

    id: ClassVar[str] = "choice_letter"
    version: ClassVar[str] = "1"
    Params = ChoiceLetterParams
    params: ChoiceLetterParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        options = f"[{self.params.letters}]"
        # Bracketed letters may be lowercase; bare ones must be capitals so
        # that "the answer is a bit unclear" picks no option.
        self._explicit = re.compile(
            r"\banswer\s*(?:is|:)?\s*(?:option\s*)?"
            rf"(?:[(\[]\s*(?P<bracketed>{options})\s*[)\]]|(?-i:(?P<letter>{options})))"
            r"(?!\w)",
            re.IGNORECASE,
        )
        self._alone = re.compile(
            rf"\s*[(\[]?(?P<letter>{options})[)\].:]?\s*", re.IGNORECASE
        )
        self._opening = re.compile(rf"\s*[(\[]?(?P<letter>{options})[)\].:]\s")
        self._bracketed = re.compile(rf"[(\[](?P<letter>{options})[)\]]")
        # A standalone capital, except the pronoun "I" ("I think", "I'm").
        self._standalone = re.compile(
            rf"(?<!\w)(?P<letter>{options})(?![\w'\u2019])(?!(?<=I)\s+[a-z])"
        )

    def parse(self, text: str) -> str:
        """Return the uppercase letter of the option `text` picks."""
        patterns = (
            (self._explicit.finditer, -1),
            (lambda t: iter([m] if (m := self._alone.fullmatch(t)) else []), 0),
            (lambda t: iter([m] if (m := self._opening.match(t)) else []), 0),
            (self._bracketed.finditer, -1),
        )
        for find, index in patterns:
            found = list(find(text))
            if found:
                match = found[index]
                return (match.group("letter") or match.group("bracketed")).upper()

        letters = {m.group("letter") for m in self._standalone.finditer(text)}
        if len(letters) == 1:
            return letters.pop()
        if letters:
            listed = ", ".join(sorted(letters))
            msg = f"ambiguous choice: the letters {listed} all stand alone"
            raise ParseFailure(msg)
        msg = f"no option letter ({self.params.letters}) in {_excerpt(text)}"
        raise ParseFailure(msg)


@register
class Boxed(Parser):
    """Return the contents of the last ``\\boxed{…}`` in the text.

    Braces nest, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``; an
    ``\\fbox{…}`` counts too. The contents are stripped of surrounding
    whitespace.

    Usage::

        parse boxed
    """

    id: ClassVar[str] = "boxed"
    version: ClassVar[str] = "1"

    def parse(self, text: str) -> str:
        """Return the contents of the last balanced boxed expression in `text`."""
        starts = [m.end() for m in _BOXED_RE.finditer(text)]
        for start in reversed(starts):
            end = _closing_brace(text, start)
            if end is not None:
                return text[start:end].strip()

        what = "an unclosed" if starts else "no"
        msg = f"{what} \\boxed{{…}} in {_excerpt(text)}"
        raise ParseFailure(msg)


_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _closing_brace(text: str, start: int) -> int | None:
    """Return the index of the brace closing the one just before `start`."""
    depth = 1
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index

    return None


class JsonParams(Params):
    field: str | None = Field(
        None,
        description=(
            "A dotted path to return from the JSON value, e.g. `answer` or "
            "`steps.0.result`; by default the whole value."
        ),
    )


@register
class Json(Parser):
    """Return the JSON value in the text, or one field of it.

    The text may be JSON as a whole, hold it in a fenced code block
    (```` ```json ````, the last parseable one counts), or hold it in prose,
    in which case the last top-level object or array counts. `field` picks a
    value by a dotted path of keys and list indices; a missing one is a
    parse failure.

    Usage::

        parse json { field "answer" }
    """

    id: ClassVar[str] = "json"
    version: ClassVar[str] = "1"
    Params = JsonParams
    params: JsonParams

    def parse(self, text: str) -> Any:
        """Return the JSON value found in `text`, or its configured field."""
        value = _find_json(text)
        if self.params.field is None:
            return value

        return json_path(value, self.params.field)


_FENCE_RE = re.compile(r"```[ \t]*(?:json\w*)?[ \t]*\n(?P<body>.*?)```", re.DOTALL)
_OPENING_RE = re.compile(r"[\[{]")
_DECODER = json.JSONDecoder()


def _find_json(text: str) -> Any:
    """Return the JSON value in `text`: whole, fenced, or the last in prose."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    for fence in reversed(list(_FENCE_RE.finditer(text))):
        try:
            return json.loads(fence.group("body"))
        except ValueError:
            continue

    found: list[Any] = []
    index = 0
    while (match := _OPENING_RE.search(text, index)) is not None:
        try:
            value, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            index = match.start() + 1
            continue
        found.append(value)
        index = end
    if not found:
        msg = f"no JSON object or array in {_excerpt(text)}"
        raise ParseFailure(msg)

    return found[-1]


class PythonParserParams(Params):
    ref: str = Field(description="The function, as `pkg.module:attr`.")
    fingerprint: str = Field(
        "", description="The sha256 of the function's source, set by the compiler."
    )


@register
class PythonParser(Parser):
    """Parse with a Python function of your own.

    The function takes the text and returns the answer. Raising
    `evalspec.errors.ParseFailure`, or any ValueError (as ``int("x")``
    does), or returning None, means the text holds no answer; any other
    exception is an error of the case.

    Usage::

        parse python "my_project.parsing:final_answer"
    """

    id: ClassVar[str] = "python"
    version: ClassVar[str] = "1"
    Params = PythonParserParams
    params: PythonParserParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._function = PythonRef(self.params.ref)

    def parse(self, text: str) -> Any:
        """Return the function's answer for `text`."""
        function = self._function.target
        try:
            value = function(text)
        except ParseFailure:
            raise
        except ValueError as exc:
            raise ParseFailure(f"`{self.params.ref}`: {exc}") from exc
        except Exception as exc:
            msg = f"`{self.params.ref}` raised {type(exc).__name__}: {exc}"
            raise ComponentError(msg) from exc
        if value is None:
            msg = f"`{self.params.ref}` found no answer in {_excerpt(text)}"
            raise ParseFailure(msg)

        return value
