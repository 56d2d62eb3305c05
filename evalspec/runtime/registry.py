"""The registry of component ids, shared by the compiler and the runtime.

The compiler reads it to validate a spec's component ids and parameters; the
runtime reads it to build components. Builtins register themselves when their
module is imported; third-party packages add theirs through the
``evalspec.components`` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import TypeVar

from evalspec.errors import ComponentError
from evalspec.runtime.components.base import KINDS, Component, Kind

__all__ = ["all_components", "get", "ids", "register"]

C = TypeVar("C", bound=type[Component])

_BUILTIN_MODULES = (
    "evalspec.runtime.components.models",
    "evalspec.runtime.components.openai_model",
    "evalspec.runtime.components.reducers",
    "evalspec.runtime.components.parsers",
    "evalspec.runtime.components.metrics",
    "evalspec.runtime.components.judges",
)
_REGISTRY: dict[Kind, dict[str, type[Component]]] = {kind: {} for kind in KINDS}
_loaded = False


def register(cls: C) -> C:
    """Register a component class under its kind and id; use as a decorator."""
    table = _REGISTRY[cls.kind]
    if cls.id in table and table[cls.id] is not cls:
        msg = f"{cls.kind} `{cls.id}` is registered twice"
        raise ComponentError(msg)
    table[cls.id] = cls

    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group="evalspec.components"):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break evalspec
            msg = f"entry point `{entry.name}` ({entry.value}) failed to load: {exc}"
            raise ComponentError(msg) from None
        classes = loaded if isinstance(loaded, list | tuple) else [loaded]
        for cls in classes:
            register(cls)


def get(kind: Kind, component_id: str) -> type[Component]:
    """Return the component class registered as `component_id` of `kind`."""
    _load()
    try:
        return _REGISTRY[kind][component_id]
    except KeyError:
        close = difflib.get_close_matches(component_id, _REGISTRY[kind], n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        msg = f"unknown {kind} `{component_id}`{hint}"
        raise ComponentError(msg) from None


def ids(kind: Kind) -> list[str]:
    """Return the sorted ids registered for `kind`."""
    _load()

    return sorted(_REGISTRY[kind])


def all_components() -> list[type[Component]]:
    """Return every registered component class, by kind then id."""
    _load()

    return [_REGISTRY[kind][i] for kind in KINDS for i in sorted(_REGISTRY[kind])]
