"""The builtin parsers: what each finds in a model's text, and when it fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalspec.errors import ComponentError, ParseFailure
from evalspec.runtime.components.parsers import (
    Boxed,
    ChoiceLetter,
    FirstNumber,
    Json,
    LastNumber,
    PythonParser,
    Regex,
    Strip,
    apply_parser,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", "42"),
        ("First 3, then 7", "7"),
        ("It costs 1,234 dollars", "1234"),
        ("about 1,234,567.50 in total", "1234567.5"),
        ("x = 42.0", "42"),
        ("The result is -3.5", "-3.5"),
        ("5-3", "3"),
        ("roughly .5 of it", "0.5"),
        ("1e3 items", "1000"),
        ("a minus sign \u22124", "-4"),
        ("-0", "0"),
        ("H2O is water, 18 g/mol", "18"),
    ],
)
def test_last_number_returns_canonical_last_number(text: str, expected: str) -> None:
    """The last number, without separators or trailing zeros."""
    assert LastNumber().parse(text) == expected


def test_first_number_returns_the_first_one() -> None:
    """first_number reads numbers as last_number does, from the front."""
    assert FirstNumber().parse("Between 1,000 and 2,000 people") == "1000"


@pytest.mark.parametrize("parser", [LastNumber(), FirstNumber()])
def test_number_parsers_fail_without_a_number(parser: Any) -> None:
    """A text without numbers is a ParseFailure quoting the text."""
    with pytest.raises(ParseFailure, match="no number in 'I do not know'"):
        parser.parse("I do not know")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_last_number_reads_any_grouped_integer_back(number: int) -> None:
    """An integer written with thousands separators parses to its plain digits."""
    assert LastNumber().parse(f"The total is {number:,}.") == str(number)


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=3))
def test_last_number_reads_any_decimal_back_exactly(number: Any) -> None:
    """A decimal parses to a text equal to it as a number."""
    from decimal import Decimal

    assert Decimal(LastNumber().parse(f"value: {number:f}")) == number


def test_strip_removes_surrounding_whitespace_only_by_default() -> None:
    """strip keeps case and inner spacing unless asked."""
    assert Strip().parse("  New   York \n") == "New   York"


def test_strip_can_lowercase_and_collapse_whitespace() -> None:
    """With both options the text is lowercased and single-spaced."""
    parser = Strip(lower=True, collapse_whitespace=True)

    assert parser.parse("  New \n  York ") == "new york"


def test_strip_empty_text_is_a_parse_failure() -> None:
    """A reply of only whitespace holds no answer."""
    with pytest.raises(ParseFailure, match="empty"):
        Strip().parse(" \n ")


def test_regex_returns_group_one_when_the_pattern_has_groups() -> None:
    """The first group is the default result of a pattern with groups."""
    parser = Regex(pattern=r"answer:\s*(\w+)", ignore_case=True)

    assert parser.parse("Answer: Paris. Final answer: Lyon") == "Paris"


def test_regex_last_match_and_named_group() -> None:
    """`which last` and a group name select the last match's named group."""
    parser = Regex(pattern=r"answer: (?P<value>\w+)", which="last", group="value")

    assert parser.parse("answer: Paris. final answer: Lyon") == "Lyon"


def test_regex_without_groups_returns_the_whole_match() -> None:
    """A pattern without groups gives the matched text."""
    assert Regex(pattern=r"\d{4}-\d{2}").parse("due 2024-05, not later") == "2024-05"


def test_regex_no_match_is_a_parse_failure_naming_the_pattern() -> None:
    """A text the pattern does not match fails with the pattern shown."""
    with pytest.raises(ParseFailure, match=r"no match for /\\d\+/"):
        Regex(pattern=r"\d+").parse("none")


def test_regex_invalid_pattern_is_rejected_when_built() -> None:
    """An uncompilable pattern is an invalid parameter, found before running."""
    with pytest.raises(ComponentError, match="invalid regular expression"):
        Regex(pattern="(unclosed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is C.", "C"),
        ("Answer: (b)", "B"),
        ("the answer is option D", "D"),
        ("b", "B"),
        ("(D)", "D"),
        ("A) because it is larger", "A"),
        ("I considered (B) but (C) fits better", "C"),
        ("The answer is a bit unclear, but C", "C"),
        ("Between the two, I pick E", "E"),
    ],
)
def test_choice_letter_finds_the_chosen_option(text: str, expected: str) -> None:
    """Explicit statements win over bare letters; the article "a" is no option."""
    assert ChoiceLetter().parse(text) == expected


def test_choice_letter_several_bare_letters_are_ambiguous() -> None:
    """Two different standalone letters and no statement cannot be decided."""
    with pytest.raises(ParseFailure, match="ambiguous choice: the letters A, B"):
        ChoiceLetter().parse("Either A or B could be right")


def test_choice_letter_ignores_letters_outside_the_options() -> None:
    """Only the configured letters count as options."""
    with pytest.raises(ParseFailure, match=r"no option letter \(ABCD\)"):
        ChoiceLetter(letters="abcd").parse("The answer is E")


def test_choice_letter_repeated_letters_are_rejected() -> None:
    """Option letters must be distinct."""
    with pytest.raises(ComponentError, match="distinct ASCII letters"):
        ChoiceLetter(letters="ABA")


def test_boxed_returns_the_last_box_with_nested_braces() -> None:
    """Nested braces stay inside; the last box is the answer."""
    text = r"First \boxed{1}, finally \boxed{\frac{1}{2}}."

    assert Boxed().parse(text) == r"\frac{1}{2}"


def test_boxed_skips_an_unclosed_last_box() -> None:
    """An unclosed box does not hide an earlier complete one."""
    assert Boxed().parse(r"\boxed{ 7 } and then \boxed{oops") == "7"


def test_boxed_without_a_box_is_a_parse_failure() -> None:
    """A text with no box fails, saying so."""
    with pytest.raises(ParseFailure, match=r"no \\boxed"):
        Boxed().parse("The answer is 7")


def test_json_parses_a_whole_json_text() -> None:
    """A reply that is JSON is parsed as a whole."""
    assert Json().parse('{"answer": 4}') == {"answer": 4}


def test_json_prefers_the_last_fenced_block() -> None:
    """A fenced ```json block is found inside prose."""
    text = 'Example:\n```json\n{"answer": 0}\n```\nMine:\n```json\n{"answer": 4}\n```'

    assert Json(field="answer").parse(text) == 4


def test_json_in_prose_takes_the_last_top_level_value() -> None:
    """Without fences the last complete object or array in the text counts."""
    text = 'I first tried {"a": 1}, then settled on {"a": {"b": [5, 6]}}.'

    assert Json(field="a.b.1").parse(text) == 6


def test_json_missing_field_is_a_parse_failure() -> None:
    """A field path that leads nowhere fails, naming the missing key."""
    with pytest.raises(ParseFailure, match="no `answer.value` \\(no `value`\\)"):
        Json(field="answer.value").parse('{"answer": {"text": "x"}}')


def test_json_without_json_is_a_parse_failure() -> None:
    """Prose without an object or array fails."""
    with pytest.raises(ParseFailure, match="no JSON object or array"):
        Json().parse("I cannot answer in JSON {sorry")


def test_python_parser_returns_the_function_value(
    write_module: Callable[[str, str], str],
) -> None:
    """A user function parses the text."""
    module = write_module("pp_ok", "def final(text):\n    return text.split()[-1]\n")

    assert PythonParser(ref=f"{module}:final").parse("so it is Lyon") == "Lyon"


def test_python_parser_value_error_and_none_are_parse_failures(
    write_module: Callable[[str, str], str],
) -> None:
    """ValueError and a None result mean no answer, not a broken component."""
    module = write_module(
        "pp_fail",
        """
        def as_int(text):
            return int(text)

        def nothing(text):
            return None
        """,
    )

    with pytest.raises(ParseFailure, match="invalid literal"):
        PythonParser(ref=f"{module}:as_int").parse("seven")
    with pytest.raises(ParseFailure, match="found no answer"):
        PythonParser(ref=f"{module}:nothing").parse("seven")


def test_python_parser_other_exceptions_are_component_errors(
    write_module: Callable[[str, str], str],
) -> None:
    """A bug in the function is an error of the case, not a parse failure."""
    module = write_module("pp_bug", "def broken(text):\n    return text[99]\n")

    with pytest.raises(ComponentError, match="raised IndexError"):
        PythonParser(ref=f"{module}:broken").parse("short")


def test_apply_parser_on_text_returns_value_or_error() -> None:
    """One text gives its value, or None and the failure message."""
    parser = LastNumber()

    assert apply_parser(parser, "it is 4") == ("4", None)
    assert apply_parser(parser, "none") == (None, "no number in 'none'")


def test_apply_parser_on_a_list_parses_each_text() -> None:
    """A kept-all list parses element-wise; failures become None."""
    parsed, error = apply_parser(LastNumber(), ["1", "none", "3"])

    assert parsed == ["1", None, "3"]
    assert error is None


def test_apply_parser_on_a_list_without_any_answer_reports_an_error() -> None:
    """A list where nothing parses carries an error for the metrics."""
    parsed, error = apply_parser(LastNumber(), ["none", "zero"])

    assert parsed == [None, None]
    assert error is not None and error.startswith("no candidate could be parsed")
