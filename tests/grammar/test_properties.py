"""Properties of the grammar over the example specs and mutations of them.

Formatting round-trips and is idempotent; no mutation of a spec, however
broken, makes the compiler raise anything but SpecError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalspec.compiler import compile_text, read_spec
from evalspec.errors import SpecError
from evalspec.grammar.formatter import format_spec
from evalspec.grammar.parser import parse

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
SPECS = sorted(SPECS_DIR.rglob("*.evalspec"))
TEXTS = {spec: spec.read_text(encoding="utf-8") for spec in SPECS}
TOKEN = re.compile(r'r?"""[\s\S]*?"""|r?"(?:[^"\\\n]|\\.)*"|#[^\n]*|\w+|\s+|.')

FAST = settings(
    max_examples=int(os.environ.get("EVALSPEC_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

specs = st.sampled_from(SPECS)


def tokens(text: str) -> list[str]:
    """Return `text` cut into strings, comments, words, whitespace and marks."""
    return TOKEN.findall(text)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path, str]:
    """Draw an example spec with a few tokens deleted, duplicated or swapped."""
    spec = draw(specs)
    parts = tokens(TEXTS[spec])
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(parts) - 1))
        j = draw(st.integers(0, len(parts) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap"]))
        if operation == "delete":
            del parts[i]
        elif operation == "duplicate":
            parts.insert(i, parts[i])
        else:
            parts[i], parts[j] = parts[j], parts[i]

    return spec, "".join(parts)


def compile_or_diagnose(text: str, spec: Path) -> None:
    """Compile `text` as if it were `spec`; a SpecError is a fine outcome."""
    try:
        compile_text(text, str(spec))
    except SpecError as exc:
        assert exc.diagnostics
        assert exc.render()


def assert_formats_stably(text: str) -> None:
    formatted = format_spec(text)
    assert format_spec(formatted) == formatted
    assert parse(formatted).tree == parse(text).tree


def test_tokens_rebuild_every_spec_exactly() -> None:
    """The mutation tokenizer loses nothing, so mutations start from real text."""
    for text in TEXTS.values():
        assert "".join(tokens(text)) == text


def test_every_example_formats_to_an_equal_tree_idempotently() -> None:
    """Formatting an example spec keeps its tree and is a fixed point."""
    for text in TEXTS.values():
        assert_formats_stably(text)


@FAST
@given(mutated())
def test_mutated_spec_compiles_or_raises_spec_error(case: tuple[Path, str]) -> None:
    """A spec with tokens deleted, duplicated or swapped never crashes."""
    spec, text = case
    compile_or_diagnose(text, spec)


@FAST
@given(mutated())
def test_mutated_spec_that_parses_formats_stably(case: tuple[Path, str]) -> None:
    """Whatever parses, however odd, formats to an equal tree, idempotently."""
    _, text = case
    try:
        parse(text)
    except SpecError:
        return
    assert_formats_stably(text)


@FAST
@given(specs, st.text(max_size=40), st.integers(0, 10_000))
def test_random_text_inserted_never_crashes(spec: Path, noise: str, at: int) -> None:
    """Random characters spliced into a spec give diagnostics, not tracebacks."""
    text = TEXTS[spec]
    position = at % (len(text) + 1)
    compile_or_diagnose(text[:position] + noise + text[position:], spec)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Random bytes read as a spec file give diagnostics, not tracebacks."""
    path = tmp_path_factory.mktemp("bytes") / "random.evalspec"
    path.write_bytes(data)
    try:
        compile_or_diagnose(read_spec(path), path)
    except SpecError as exc:
        assert exc.diagnostics


@FAST
@given(specs, st.binary(min_size=1, max_size=4), st.integers(0, 10_000))
def test_invalid_utf8_is_a_diagnostic(
    tmp_path_factory: pytest.TempPathFactory, spec: Path, junk: bytes, at: int
) -> None:
    """A spec with bytes that are not UTF-8 is reported with a position."""
    data = TEXTS[spec].encode("utf-8")
    position = at % (len(data) + 1)
    path = tmp_path_factory.mktemp("utf8") / spec.name
    path.write_bytes(data[:position] + b"\xff" + junk + data[position:])
    try:
        read_spec(path)
    except SpecError as exc:
        assert exc.diagnostics[0].message == "the spec is not valid UTF-8"
        assert exc.diagnostics[0].line >= 1
    else:
        raise AssertionError("invalid UTF-8 was accepted")
