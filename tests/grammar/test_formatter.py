"""The formatter: canonical layout, comments and strings kept, stable output."""

from __future__ import annotations

import pytest

from evalspec.errors import SpecError
from evalspec.grammar.formatter import format_diff, format_spec
from evalspec.grammar.parser import parse

MESSY = '''# head

model   m{use echo prefix "x" # trailing
  # own line
  delay 0.1}


model n { use echo }  # after
dataset d {
  rename {q: "question", # inside a map
   a: answer,}
  x [1, 2, 3,]
  y env ( "A" )
}
judge j { rubric r"""
 kept   as is
"""  # after the string
}
# tail
'''

EXPECTED = '''# head

model m {
  use echo
  prefix "x"  # trailing
  # own line
  delay 0.1
}

model n { use echo }  # after
dataset d {
  rename {
    q: "question",  # inside a map
    a: answer,
  }
  x [1, 2, 3]
  y env("A")
}
judge j {
  rubric r"""
 kept   as is
"""  # after the string
}
# tail
'''


def test_format_spec_lays_out_messy_text_canonically() -> None:
    """Multi-pair blocks open up, comments stay, strings keep their bytes."""
    assert format_spec(MESSY) == EXPECTED


def test_format_spec_is_idempotent_and_keeps_the_tree() -> None:
    """Formatting twice changes nothing, and the tree is the same as before."""
    once = format_spec(MESSY)
    assert format_spec(once) == once
    assert parse(once).tree == parse(MESSY).tree


def test_format_spec_keeps_a_short_one_pair_block_on_its_line() -> None:
    """`score m { expected answer }` stays on one line; written open, it stays open."""
    assert format_spec("score m {expected answer}") == "score m { expected answer }\n"
    opened = "model g {\n  use reference_grader\n}\n"
    assert format_spec(opened) == opened


def test_format_spec_breaks_a_list_that_does_not_fit() -> None:
    """A list wider than 88 columns gets one item per line and trailing commas."""
    items = ", ".join(f'"tag-number-{i}"' for i in range(8))
    formatted = format_spec(f"experiment e {{ tags [{items}] }}")
    assert '    "tag-number-0",\n' in formatted
    assert format_spec(formatted) == formatted


def test_format_spec_never_reescapes_strings() -> None:
    """Escapes and quotes are printed exactly as written."""
    text = 'prompt p "tab\\there \\"quoted\\" \\u00e9"\n'
    assert format_spec(text) == text


def test_format_spec_of_only_comments_keeps_them() -> None:
    """A file of comments alone formats to the same comments."""
    assert format_spec("# one\n\n\n# two   \n") == "# one\n\n# two\n"


def test_format_spec_raises_spec_error_on_a_syntax_error() -> None:
    """Text that does not parse is a SpecError with the parser's diagnostic."""
    with pytest.raises(SpecError) as caught:
        format_spec("model m use x", "bad.evalspec")
    assert "expected `{` to open the model block" in caught.value.render()


def test_format_diff_names_the_file_and_shows_changes() -> None:
    """The diff for `fmt --check` is unified, from the file to its formatted form."""
    diff = format_diff("model m {use echo}\n", "model m { use echo }\n", "a.evalspec")
    assert diff.startswith("--- a.evalspec\n+++ a.evalspec (formatted)\n")
    assert "-model m {use echo}\n+model m { use echo }\n" in diff
