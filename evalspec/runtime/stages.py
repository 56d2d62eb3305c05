"""The stage declarations an emitted runner builds its pipeline from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jinja2
import jinja2.sandbox

from evalspec.runtime.canonical import digest
from evalspec.runtime.components.base import Judge, Message, Model

__all__ = ["STAGES", "Generate", "JudgeStep", "Prompt", "Runtime", "Subject"]

#: The stages of every pipeline, in order.
STAGES = ("generate", "reduce", "parse", "score", "judge")

_ENVIRONMENT = jinja2.sandbox.ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


class Prompt:
    """A prompt: (role, template) turns rendered over a case's fields.

    Templates render in jinja2's immutable sandbox with strict undefined
    variables. Case values are inserted as data: a value containing `{{ }}`
    is never rendered itself.
    """

    def __init__(self, messages: Sequence[tuple[str, str]]) -> None:
        self.messages = tuple((role, text) for role, text in messages)

    @cached_property
    def _templates(self) -> tuple[tuple[str, jinja2.Template], ...]:
        return tuple(
            (role, _ENVIRONMENT.from_string(text)) for role, text in self.messages
        )

    def render(self, fields: Mapping[str, Any]) -> tuple[Message, ...]:
        """Return the messages rendered over `fields`."""
        return tuple(
            Message(role, template.render(fields)) for role, template in self._templates
        )

    def describe(self) -> list[list[str]]:
        """Return the prompt's identity: its turns."""
        return [list(m) for m in self.messages]

    def __repr__(self) -> str:
        return f"Prompt({list(self.messages)!r})"


@dataclass(frozen=True)
class Subject:
    """One (model, prompt) pair of the generate matrix, under its report name."""

    name: str
    model: Model
    prompt: Prompt

    @cached_property
    def fingerprint(self) -> str:
        """Return the hash of the model's and prompt's identity."""
        return digest(self.model.describe(), self.prompt.describe())


@dataclass(frozen=True)
class Generate:
    """The generate stage: its subjects and the samples drawn per case."""

    subjects: Sequence[Subject]
    samples: int = 1


@dataclass(frozen=True)
class JudgeStep:
    """One judge: the judge component and the model it asks."""

    name: str
    judge: Judge
    model: Model

    @cached_property
    def fingerprint(self) -> str:
        """Return the hash of the judge's and its model's identity."""
        return digest(self.judge.describe(), self.model.describe())


@dataclass(frozen=True)
class Runtime:
    """How a run executes; never part of what it means (its run_id).

    `concurrency` caps the cases in flight and the calls to each provider;
    `stage_concurrency` caps calls per stage (``generate``, ``judge``);
    `rate` limits requests per minute per provider; `retries` is the number
    of further attempts after a retryable provider failure.
    """

    concurrency: int = 16
    rate: float | None = None
    retries: int = 4
    timeout: float | None = None
    stage_concurrency: Mapping[str, int] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Runtime:
        """Return a copy with the non-None `changes` applied."""
        values = {k: v for k, v in changes.items() if v is not None}

        return Runtime(**{**self.__dict__, **values})
