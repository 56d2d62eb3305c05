"""Python references: ``"pkg.module:attr"`` strings naming a user's callable.

The compiler calls `resolve_ref` and `source_fingerprint` while compiling, so
that a reference that does not import becomes a diagnostic and the source of
a custom component belongs to the run's identity. Components hold a
`PythonRef`, which imports its target lazily on first use.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any

from evalspec.errors import ComponentError, EvalSpecError

__all__ = [
    "CALLS",
    "PythonRef",
    "check_signature",
    "first_param_is",
    "resolve_ref",
    "source_fingerprint",
]


def _split(ref: str) -> tuple[str, str]:
    module, sep, attr = ref.partition(":")
    if not sep or not module.strip() or not attr.strip():
        msg = f"python reference `{ref}` must have the form `pkg.module:attr`"
        raise ComponentError(msg)

    return module.strip(), attr.strip()


def _import(module_name: str, ref: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        msg = f"python reference `{ref}`: no module named `{exc.name}`"
        raise ComponentError(msg) from None
    except Exception as exc:  # the user's module may fail in any way on import
        msg = (
            f"python reference `{ref}`: importing `{module_name}` raised "
            f"{type(exc).__name__}: {exc}"
        )
        raise ComponentError(msg) from exc


def _locate(ref: str) -> tuple[ModuleType, Any]:
    """Return the module named by `ref` and the object its attribute path names."""
    module_name, attr = _split(ref)
    module = _import(module_name, ref)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            msg = f"python reference `{ref}`: `{module_name}` has no attribute `{attr}`"
            raise ComponentError(msg) from None

    return module, target


def resolve_ref(ref: str) -> Callable[..., Any]:
    """Return the callable that `ref` (``"pkg.module:attr"``) names.

    Raise ComponentError when the module does not import, the attribute is
    missing, or it is not callable.
    """
    _, target = _locate(ref)
    if not callable(target):
        msg = (
            f"python reference `{ref}` names a {type(target).__name__}, "
            "not a function or class"
        )
        raise ComponentError(msg)

    return typing.cast(Callable[..., Any], target)


def source_fingerprint(ref: str) -> str:
    """Return the sha256 hex digest of the source of the object `ref` names.

    The source is the object's own code when Python can find it, else the
    bytes of its module's file; an object from a module without a file (one
    built into the interpreter) is fingerprinted by its reference and the
    Python version.
    """
    module, target = _locate(ref)
    try:
        data = inspect.getsource(target).encode("utf-8")
    except (OSError, TypeError):
        data = _module_bytes(module, ref)

    return hashlib.sha256(data).hexdigest()


def _module_bytes(module: ModuleType, ref: str) -> bytes:
    path = getattr(module, "__file__", None)
    if path is None:
        return f"{ref}\n{sys.version}".encode()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        msg = f"python reference `{ref}`: cannot read `{path}` to fingerprint it: {exc}"
        raise ComponentError(msg) from None


def first_param_is(function: Callable[..., Any], cls: type) -> bool:
    """Return whether `function`'s first parameter is annotated as `cls`.

    String annotations (from ``from __future__ import annotations``, quoted or
    not) match by the class's name, with or without a module prefix.
    """
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if not parameters:
        return False

    annotation = parameters[0].annotation
    if isinstance(annotation, str):
        name = annotation.strip("'\"")
        return name.rsplit(".", 1)[-1] == cls.__name__

    return annotation is cls


class PythonRef:
    """A reference to a user's callable, imported on first use and then kept."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._target: Callable[..., Any] | None = None

    @property
    def target(self) -> Callable[..., Any]:
        """Return the referenced callable, importing it the first time."""
        if self._target is None:
            self._target = resolve_ref(self.ref)

        return self._target

    def call(self, *args: Any) -> Any:
        """Call the target; an exception not from evalspec becomes ComponentError."""
        try:
            return self.target(*args)
        except EvalSpecError:
            raise
        except Exception as exc:
            msg = f"`{self.ref}` raised {type(exc).__name__}: {exc}"
            raise ComponentError(msg) from exc


#: How each kind of component calls a user's function, by positional arity.
CALLS = {
    "model": {1: "f(prompt) or f(request)"},
    "parser": {1: "f(text)"},
    "reducer": {1: "f(candidates) or f(item)"},
    "metric": {1: "f(item)", 2: "f(parsed, case)"},
}


def check_signature(ref: str, kind: str) -> None:
    """Raise ComponentError when `ref` cannot be called as a `kind` is called.

    Classes are checked through their constructor; objects whose signature
    cannot be read are accepted.
    """
    calls = CALLS.get(kind)
    if calls is None:
        return
    target = resolve_ref(ref)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    for arity in calls:
        try:
            signature.bind(*range(arity))
        except TypeError:
            continue
        return
    forms = " or ".join(calls.values())
    msg = (
        f"`{ref}` has the signature {signature}, but a {kind} function is "
        f"called as {forms}"
    )
    raise ComponentError(msg)
