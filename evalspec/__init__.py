"""evalspec: evaluate language models from a small declarative language.

The Python API is loaded on first use, so that an emitted runner, which
imports only `evalspec.runtime`, never loads the compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evalspec._version import __version__
from evalspec.errors import (
    ComponentError,
    DatasetChangedError,
    EvalSpecError,
    EventLoopError,
    InternalError,
    MissingArtifactsError,
    ParseFailure,
    ProviderError,
    SpecError,
    StoreError,
    UsageError,
)

if TYPE_CHECKING:
    from evalspec.api import Experiment, evaluate, evaluate_async, load
    from evalspec.compiler.snapshot import RunSnapshot
    from evalspec.runtime.result import RunResult

__all__ = [
    "ComponentError",
    "DatasetChangedError",
    "EvalSpecError",
    "EventLoopError",
    "Experiment",
    "InternalError",
    "MissingArtifactsError",
    "ParseFailure",
    "ProviderError",
    "RunResult",
    "RunSnapshot",
    "SpecError",
    "StoreError",
    "UsageError",
    "__version__",
    "evaluate",
    "evaluate_async",
    "load",
]

_LAZY = {
    "Experiment": "evalspec.api",
    "evaluate": "evalspec.api",
    "evaluate_async": "evalspec.api",
    "load": "evalspec.api",
    "RunSnapshot": "evalspec.compiler.snapshot",
    "RunResult": "evalspec.runtime.result",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'evalspec' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value

    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
