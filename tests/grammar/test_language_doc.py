"""Every example in docs/LANGUAGE.md is valid syntax the formatter keeps stable."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from evalspec.grammar import format_spec, parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "LANGUAGE.md"
EXAMPLES = re.findall(r"```evalspec\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_language_doc_has_examples() -> None:
    """The reference shows an example for most constructs."""
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(
    "text", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))]
)
def test_language_doc_example_parses_and_formats_stably(text: str) -> None:
    """An example parses, and formatting it twice changes nothing more."""
    text = textwrap.dedent(text)
    parse(text, "LANGUAGE.md")

    once = format_spec(text, "LANGUAGE.md")
    assert format_spec(once, "LANGUAGE.md") == once
