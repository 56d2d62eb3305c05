"""Live Python objects given to the API (lambdas, closures), by reference.

`register()` files an object under a name derived from its source, so that
it can be named like any custom component, as
``python "evalspec.runtime.live:NAME"``. Such references are process-local:
they resolve only in the process that registered them.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from typing import Any

__all__ = ["MODULE", "is_live", "register"]

#: The module through which registered objects are imported.
MODULE = __name__

_OBJECTS: dict[str, Any] = {}


def register(obj: Any, kind: str) -> str:
    """Register `obj` and return its Python reference, ``module:name``."""
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        source = repr(obj)
    label = re.sub(r"\W", "_", getattr(obj, "__name__", kind)).strip("_") or kind
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    name = f"{kind}_{label}_{digest[:12]}"
    _OBJECTS[name] = obj

    return f"{MODULE}:{name}"


def is_live(ref: str) -> bool:
    """Return whether `ref` names a registered live object."""
    return ref.startswith(MODULE + ":")


def __getattr__(name: str) -> Any:
    try:
        return _OBJECTS[name]
    except KeyError:
        msg = (
            f"no live object `{name}` in this process: live Python objects given "
            "to evaluate() or Experiment are process-local"
        )
        raise AttributeError(msg) from None
