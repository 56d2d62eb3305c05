"""Text helpers shared by the builtin components: numbers, normalisation, fields."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from evalspec.errors import ComponentError, ParseFailure

__all__ = [
    "NUMBER_RE",
    "answer_text",
    "as_number",
    "canonical_number",
    "case_field",
    "first_value",
    "json_path",
    "remove_articles",
    "remove_punctuation",
    "squad_normalize",
]

# A number is not glued to a preceding word character (so "H2O" holds none),
# may carry a minus sign that is not a hyphen between two words or numbers,
# may group thousands with commas, and may have a decimal part and exponent.
_DIGITS = r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d{1,3})?"
NUMBER_RE = re.compile(r"(?:(?<![\w)\]])[-\u2212])?(?<![\w.])" + _DIGITS)
_FULL_NUMBER_RE = re.compile(r"\s*[-\u2212+]?" + _DIGITS + r"\s*")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b", re.IGNORECASE)


def canonical_number(text: str) -> str:
    """Return the canonical text of a number: no separators, no trailing zeros.

    ``"1,234"`` becomes ``"1234"``, ``"42.0"`` becomes ``"42"`` and ``"-0"``
    becomes ``"0"``.
    """
    cleaned = text.strip().replace(",", "").replace("\u2212", "-")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        msg = f"{text!r} is not a number"
        raise ValueError(msg) from None
    if not value.is_finite():
        return repr(float(value))
    if value == 0:
        return "0"
    if value == value.to_integral_value():
        return str(int(value))

    return format(value.normalize(), "f")


def as_number(value: Any) -> float | None:
    """Return `value` as a float when it is a number or a number's text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FULL_NUMBER_RE.fullmatch(value):
        return float(canonical_number(value))

    return None


def answer_text(value: Any) -> str:
    """Return the text form of an answer value, numbers in canonical form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return canonical_number(repr(value))

    return str(value)


def first_value(parsed: Any) -> Any:
    """Return the first element of a kept-all list of parsed values, else `parsed`."""
    if isinstance(parsed, list | tuple):
        return parsed[0] if parsed else None

    return parsed


def case_field(case: Mapping[str, Any], name: str) -> Any:
    """Return the case's field `name`, or raise ComponentError naming it."""
    try:
        return case[name]
    except KeyError:
        known = ", ".join(f"`{k}`" for k in sorted(case)) or "none"
        msg = f"the case has no field `{name}` (its fields: {known})"
        raise ComponentError(msg) from None


def remove_punctuation(text: str) -> str:
    """Return `text` without Unicode punctuation characters."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def remove_articles(text: str) -> str:
    """Return `text` without the English articles a, an and the."""
    return _ARTICLES_RE.sub(" ", text)


def squad_normalize(text: str) -> str:
    """Return `text` normalised as SQuAD's evaluation script does.

    Lowercase, drop ASCII punctuation, drop the articles a, an and the, and
    collapse whitespace.
    """
    lowered = text.lower()
    unpunctuated = "".join(ch for ch in lowered if ch not in _ASCII_PUNCTUATION)

    return " ".join(remove_articles(unpunctuated).split())


def json_path(value: Any, path: str) -> Any:
    """Return the value at the dotted `path` of keys and list indices in `value`.

    Raise ParseFailure naming the path when it leads nowhere.
    """
    current = value
    for key in path.split("."):
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.lstrip("-").isdigit():
            try:
                current = current[int(key)]
            except IndexError:
                msg = f"the JSON value has no `{path}` (index {key} is out of range)"
                raise ParseFailure(msg) from None
        else:
            msg = f"the JSON value has no `{path}` (no `{key}`)"
            raise ParseFailure(msg)

    return current
