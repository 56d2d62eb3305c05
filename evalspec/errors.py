"""Exceptions raised by evalspec.

Every exception evalspec raises on purpose derives from `EvalSpecError` and
from the builtin exception closest in meaning, so callers may catch either::

    EvalSpecError
    ├── SpecError (ValueError)            a spec has diagnostics; `.diagnostics`
    ├── UsageError (ValueError)           an API or command was called wrongly
    ├── EventLoopError (RuntimeError)     a sync entry point inside an event loop
    ├── ComponentError (ValueError)       a component cannot be built or called
    ├── ParseFailure (ValueError)         a parser found no answer in a text
    ├── ProviderError (RuntimeError)      a model provider call failed
    ├── StoreError (RuntimeError)         a store file is unusable
    ├── MissingArtifactsError (LookupError)
    │                                     replay found no stored upstream work
    ├── DatasetChangedError (ValueError)  a dataset no longer matches its fingerprint
    └── InternalError (RuntimeError)      a bug in evalspec itself
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalspec.grammar.diagnostics import Diagnostic

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
]


class EvalSpecError(Exception):
    """Base class of every error evalspec raises on purpose."""


class SpecError(EvalSpecError, ValueError):
    """A spec has one or more diagnostics, all collected in `diagnostics`."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__(self.render())

    def render(self, color: bool = False) -> str:
        """Return every diagnostic rendered compiler-style, then a count."""
        parts = [d.render(color=color) for d in self.diagnostics]
        errors = sum(1 for d in self.diagnostics if d.severity == "error")
        if errors > 1:
            parts.append(f"{errors} errors")

        return "\n\n".join(parts)


class UsageError(EvalSpecError, ValueError):
    """An API function or command was called with arguments it cannot use."""


class EventLoopError(EvalSpecError, RuntimeError):
    """A synchronous entry point was called inside a running event loop."""


class ComponentError(EvalSpecError, ValueError):
    """A component could not be built, imported or called."""


class ParseFailure(EvalSpecError, ValueError):
    """A parser found no answer in a model's text."""


class ProviderError(EvalSpecError, RuntimeError):
    """A model provider call failed.

    `category` names the failure (``timeout``, ``connection``, ``rate_limit``,
    ``server``, ``client``, ``auth``, ``malformed``); `retryable` says whether
    the runtime may try again, after at least `retry_after` seconds when set.
    """

    def __init__(
        self,
        message: str,
        *,
        category: str,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        #: The earlier attempts' retry records, ``{"attempt", "delay", "reason"}``.
        self.retries: list[dict[str, Any]] = []

    def to_json(self) -> dict[str, Any]:
        """Return the error as the JSON object stored on a failed work item."""
        return {
            "category": self.category,
            "message": str(self),
            "retryable": self.retryable,
            "status": self.status,
        }


class StoreError(EvalSpecError, RuntimeError):
    """A store file is corrupted, from a newer evalspec, or cannot be opened."""


class MissingArtifactsError(EvalSpecError, LookupError):
    """A replay needs upstream artifacts that the store does not hold."""


class DatasetChangedError(EvalSpecError, ValueError):
    """A dataset's content no longer matches the fingerprint it was compiled with."""


class InternalError(EvalSpecError, RuntimeError):
    """evalspec itself failed; the message says where to report it."""
