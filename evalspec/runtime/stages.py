"""The stage declarations an emitted runner builds its pipeline from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.sandbox

from evalspec.runtime.canonical import digest
from evalspec.runtime.components.base import Judge, Message, Model
from evalspec.runtime.limits import ProviderLimit

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

    @cached_property
    def _pieces(self) -> tuple[tuple[str, tuple[_Piece, ...]], ...] | None:
        pieces = []
        for role, text in self.messages:
            turn = _plain_pieces(text)
            if turn is None:
                return None
            pieces.append((role, turn))

        return tuple(pieces)

    def render(self, fields: Mapping[str, Any]) -> tuple[Message, ...]:
        """Return the messages rendered over `fields`."""
        pieces = self._pieces
        if pieces is not None:
            try:
                return tuple(
                    Message(role, _join(turn, fields)) for role, turn in pieces
                )
            except KeyError:
                # A name that is not a field may be a jinja2 global, or is
                # undefined: jinja2 itself resolves it or says so.
                pass

        return tuple(
            Message(role, template.render(fields)) for role, template in self._templates
        )

    def describe(self) -> list[list[str]]:
        """Return the prompt's identity: its turns."""
        return [list(m) for m in self.messages]

    def __repr__(self) -> str:
        return f"Prompt({list(self.messages)!r})"


#: A piece of a plain template: literal text, or the name of a field to insert.
_Piece = tuple[bool, str]


def _plain_pieces(text: str) -> tuple[_Piece, ...] | None:
    """Return `text`'s pieces when it only inserts fields by name, else None.

    Most prompts are text with ``{{ field }}`` holes; joining their pieces
    gives what jinja2 renders (each value through `str`) in a fraction of
    the time. Anything else (filters, attributes, tags) renders with jinja2.
    """
    template = _ENVIRONMENT.parse(text)
    if not template.body:
        return ()
    if len(template.body) != 1 or not isinstance(template.body[0], jinja2.nodes.Output):
        return None
    pieces: list[_Piece] = []
    for node in template.body[0].nodes:
        if isinstance(node, jinja2.nodes.TemplateData):
            pieces.append((False, node.data))
        elif isinstance(node, jinja2.nodes.Name) and node.ctx == "load":
            pieces.append((True, node.name))
        else:
            return None

    return tuple(pieces)


def _join(pieces: tuple[_Piece, ...], fields: Mapping[str, Any]) -> str:
    """Return `pieces` joined, with each field name replaced by `str` of its value."""
    return "".join(str(fields[text]) if name else text for name, text in pieces)


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
    of further attempts after a retryable provider failure; `timeout` bounds
    each call in seconds; `providers` sets the limits of single providers by
    name (``openai``, ``openai:host:8000``), overriding `concurrency` and
    `rate` for them; a plain number there caps the provider's calls in flight.
    """

    concurrency: int = 16
    rate: float | None = None
    retries: int = 4
    timeout: float | None = None
    stage_concurrency: Mapping[str, int] = field(default_factory=dict)
    providers: Mapping[str, ProviderLimit | int] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Runtime:
        """Return a copy with the non-None `changes` applied."""
        values = {k: v for k, v in changes.items() if v is not None}

        return Runtime(**{**self.__dict__, **values})
