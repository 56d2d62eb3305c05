"""evalspec: evaluate language models from a small declarative language."""

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

__all__ = [
    "ComponentError",
    "DatasetChangedError",
    "EvalSpecError",
    "EventLoopError",
    "InternalError",
    "MissingArtifactsError",
    "ParseFailure",
    "ProviderError",
    "SpecError",
    "StoreError",
    "UsageError",
    "__version__",
]
