"""evalspec: evaluate language models from a small declarative language."""

from evalspec._version import __version__
from evalspec.api import Experiment, evaluate, evaluate_async, load
from evalspec.compiler.snapshot import RunSnapshot
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
