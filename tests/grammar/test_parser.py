"""Syntax diagnostics say what was expected in words, at the right place."""

from __future__ import annotations

import pytest

import evalspec.grammar
from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic, suggest
from evalspec.grammar.parser import MAX_DEPTH, parse


def diagnose(text: str) -> Diagnostic:
    with pytest.raises(SpecError) as caught:
        parse(text, "t.evalspec")
    (diagnostic,) = caught.value.diagnostics

    return diagnostic


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model", "a model name"),
        ("model m", "`{` to open the model block"),
        ("dataset d use", "`{` to open the dataset block"),
        ("prompt p 3", "a string, or `{` to open the prompt's chat turns"),
        ("reduce 3", 'a reducer id, or `python "module:attr"`'),
        ("include x", "a string naming the file to include"),
        ("generate { model }", "a value after `model`"),
        ("score s { a env x }", "`(` after `env`"),
        ("score s { a [1 2] }", "`,` or `]` to close the list"),
        ("score s { a { k: 1 b } }", "`,` or `}` to close the map"),
        ("score s { a 1 to x }", "a number to end the range"),
    ],
)
def test_syntax_error_expects_words_for_its_context(text: str, expected: str) -> None:
    """Each common mistake names what belongs there as a person would."""
    assert diagnose(text).expected == expected


def test_end_of_input_reads_as_end_of_file_and_names_the_open_bracket() -> None:
    """Input that stops inside a block points past its last character."""
    diagnostic = diagnose("model m {\n  use echo\n\n")
    assert diagnostic.message == "unexpected end of file"
    assert (diagnostic.line, diagnostic.column) == (2, 11)
    assert diagnostic.help == "the `{` at line 1, column 9 is never closed"


def test_unknown_statement_suggests_the_closest_keyword() -> None:
    """A misspelt statement keyword gets one clear suggestion."""
    diagnostic = diagnose("modle m {}")
    assert diagnostic.message == "unknown statement `modle`"
    assert diagnostic.help == "did you mean `model`?"


def test_unterminated_triple_quoted_string_points_at_its_opening() -> None:
    diagnostic = diagnose('prompt p """\n  text\n')
    assert diagnostic.message == "unterminated triple-quoted string"
    assert (diagnostic.column, diagnostic.end_column) == (10, 13)


def test_control_character_is_named_by_code_point() -> None:
    assert diagnose("\x00").message == "unexpected character U+0000"


def test_nesting_deeper_than_the_limit_is_a_diagnostic() -> None:
    """Deep nesting is refused before any recursive walk can overflow."""
    depth = MAX_DEPTH + 5
    diagnostic = diagnose("score s { a " + "[" * depth + "]" * depth + " }")
    assert "nest" in diagnostic.message


def test_parse_keeps_comments_for_the_formatter() -> None:
    parsed = parse("# a\nreduce first  # b\n")
    assert [str(c) for c in parsed.comments] == ["# a", "# b"]


def test_suggest_needs_one_clear_candidate_within_distance_two() -> None:
    assert suggest("majorty_vote", ["majority_vote", "mean"]) == "majority_vote"
    assert suggest("xyz", ["majority_vote"]) is None


def test_grammar_all_is_sorted_and_importable() -> None:
    names = evalspec.grammar.__all__
    assert names == sorted(names)
    assert all(hasattr(evalspec.grammar, name) for name in names)
