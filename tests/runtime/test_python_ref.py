"""Python references: resolving ``pkg.module:attr`` and fingerprinting its source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evalspec.errors import ComponentError
from evalspec.runtime.components.base import Request
from evalspec.runtime.components.python_ref import (
    PythonRef,
    first_param_is,
    resolve_ref,
    source_fingerprint,
)


def test_resolve_ref_returns_the_named_callable() -> None:
    """A reference to a function returns that function."""
    assert resolve_ref("os.path:join") is __import__("os").path.join


def test_resolve_ref_follows_dotted_attributes() -> None:
    """The attribute part may reach into a class."""
    assert resolve_ref("pathlib:Path.cwd") == Path.cwd


@pytest.mark.parametrize("ref", ["os.path.join", ":join", "os.path:", ""])
def test_resolve_ref_malformed_reference_shows_the_form(ref: str) -> None:
    """A reference without both parts explains the expected form."""
    with pytest.raises(ComponentError, match="form `pkg.module:attr`"):
        resolve_ref(ref)


def test_resolve_ref_missing_attribute_names_module_and_attribute() -> None:
    """A missing attribute is reported with the module it was looked up in."""
    with pytest.raises(ComponentError, match="`os.path` has no attribute `nope`"):
        resolve_ref("os.path:nope")


def test_resolve_ref_non_callable_is_rejected() -> None:
    """A reference must name something callable."""
    with pytest.raises(ComponentError, match="names a str, not a function"):
        resolve_ref("os:sep")


def test_resolve_ref_module_failing_on_import_reports_its_error(
    write_module: Callable[[str, str], str],
) -> None:
    """An exception raised while importing the module becomes a ComponentError."""
    module = write_module("pr_broken", "raise RuntimeError('no config')\n")

    with pytest.raises(ComponentError, match="raised RuntimeError: no config"):
        resolve_ref(f"{module}:anything")


def test_source_fingerprint_changes_when_the_function_changes(
    write_module: Callable[[str, str], str],
) -> None:
    """Editing the function's source changes its fingerprint; other code does not."""
    module = write_module("pr_fp", "def f(x):\n    return x\n")
    before = source_fingerprint(f"{module}:f")
    write_module(module, "X = 1\n\n\ndef f(x):\n    return x\n")
    unrelated = source_fingerprint(f"{module}:f")
    write_module(module, "def f(x):\n    return x + 1\n")
    after = source_fingerprint(f"{module}:f")

    assert before == unrelated
    assert before != after
    assert len(before) == 64


def test_source_fingerprint_without_source_uses_module_bytes(
    write_module: Callable[[str, str], str],
) -> None:
    """An object without its own source is fingerprinted by its module file."""
    module = write_module(
        "pr_partial", "import functools\nf = functools.partial(int)\n"
    )

    first = source_fingerprint(f"{module}:f")
    write_module(module, "import functools\nf = functools.partial(int)\n# edit\n")

    assert source_fingerprint(f"{module}:f") != first


def test_first_param_is_matches_class_and_string_annotations() -> None:
    """Both a class annotation and its name as a string count."""

    def by_class(request: Request) -> None: ...

    def by_name(request: Request) -> None: ...

    def by_text(prompt: str) -> None: ...

    assert first_param_is(by_class, Request)
    assert first_param_is(by_name, Request)
    assert not first_param_is(by_text, Request)


def test_python_ref_imports_once_and_wraps_errors() -> None:
    """The target is resolved on first use; its exceptions become ComponentError."""
    ref = PythonRef("builtins:int")

    assert ref.call("7") == 7
    with pytest.raises(ComponentError, match="`builtins:int` raised ValueError"):
        ref.call("seven")
