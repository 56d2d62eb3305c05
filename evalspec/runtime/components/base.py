"""The small protocols every component kind implements.

A component is a class with an `id`, a `version` and a pydantic `Params`
schema. Its instances are built from keyword parameters, which the schema
validates; `describe()` returns the part of the component that belongs to a
run's identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from evalspec.errors import ComponentError

__all__ = [
    "Candidate",
    "Completion",
    "Component",
    "Judge",
    "JudgeInput",
    "Judgment",
    "Kind",
    "Message",
    "Metric",
    "Model",
    "Params",
    "Parser",
    "ReduceInput",
    "Reducer",
    "Request",
    "ScoreInput",
]

Kind = Literal["model", "reducer", "parser", "metric", "judge"]
KINDS: tuple[Kind, ...] = ("model", "reducer", "parser", "metric", "judge")


class Params(BaseModel):
    """Base of every component's parameter schema: frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Component:
    """Base of every builtin component.

    Subclasses set `kind`, `id`, `version` and `Params`, and their docstring is
    their reference entry.
    """

    kind: ClassVar[Kind]
    id: ClassVar[str]
    version: ClassVar[str] = "1"
    Params: ClassVar[type[Params]] = Params
    #: Parameters that shape how a component runs, not what it returns; they
    #: are left out of `describe()`, so they never change a run_id or a key.
    operational: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            msg = f"invalid parameters for {self.kind} `{self.id}`: {exc}"
            raise ComponentError(msg) from None

    def describe(self) -> dict[str, Any]:
        """Return the id, version and parameters that identify this component."""
        params = self.params.model_dump(mode="json")

        return {
            "id": self.id,
            "version": self.version,
            "params": {k: v for k, v in params.items() if k not in self.operational},
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn: `role` is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Request:
    """What a model is asked: rendered messages plus the case they came from.

    `case` holds the case's fields so that offline models (an oracle, a
    grader) can answer from them; `extra` carries stage-specific context such
    as the response and reference a judge model is asked about.
    """

    messages: tuple[Message, ...]
    case: Mapping[str, Any] = field(default_factory=dict)
    sample: int = 0
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """Return the messages joined as one text (for text-only models)."""
        return "\n\n".join(m.content for m in self.messages)


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer with what the provider reported about it."""

    text: str
    finish_reason: str | None = None
    usage: Mapping[str, int] | None = None
    latency: float | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generated sample of one subject for one case."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ReduceInput:
    """A reducer's input: the case's candidates and the run's parser."""

    candidates: Sequence[str]
    case: Mapping[str, Any]
    parse: Callable[[str], Any] | None = None


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """A metric's input for one case and subject.

    `parsed` is the parser's value (a list when the reducer kept every
    candidate); `parse_error` is set instead when parsing failed.
    """

    parsed: Any
    reduced: Any
    candidates: Sequence[str]
    case: Mapping[str, Any]
    parse_error: str | None = None


@dataclass(frozen=True, slots=True)
class JudgeInput:
    """A judge's input: the subject's answer for one case."""

    response: str
    parsed: Any
    case: Mapping[str, Any]
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class Judgment:
    """A judge's verdict, with everything a person needs to audit it.

    `score` is normalised to [0, 1]; `verdict` is the raw scale value (an int
    on a range, ``pass``/``fail``), or None when the judge's answer could not
    be read, in which case `error` says why.
    """

    score: float | None
    verdict: Any
    reasoning: str
    prompt: str
    raw: str
    error: str | None = None


class Model(Component):
    """A text generator: a provider endpoint, a builtin or a Python function."""

    kind: ClassVar[Kind] = "model"
    operational: ClassVar[frozenset[str]] = frozenset({"delay"})

    @property
    def provider(self) -> str:
        """Return the name under which per-provider limits apply."""
        return self.id

    async def complete(self, request: Request) -> Completion:
        """Return the model's completion for `request`."""
        raise NotImplementedError


class Reducer(Component):
    """Turns a case's candidates into one answer (or keeps them all)."""

    kind: ClassVar[Kind] = "reducer"

    @property
    def uses_parser(self) -> bool:
        """Return whether the reduced answer depends on the run's parser.

        When it does, the reduce stage key includes the parser, so a parser
        change reduces again (which calls no model).
        """
        return True

    def reduce(self, item: ReduceInput) -> Any:
        """Return the reduced answer for `item`."""
        raise NotImplementedError


class Parser(Component):
    """Extracts the answer from a text; raises ParseFailure when there is none."""

    kind: ClassVar[Kind] = "parser"

    def parse(self, text: str) -> Any:
        """Return the answer found in `text`."""
        raise NotImplementedError


class Metric(Component):
    """Scores one case's parsed answer, usually against a case field."""

    kind: ClassVar[Kind] = "metric"

    @property
    def name(self) -> str:
        """Return the metric's name in reports."""
        return self.id

    def score(self, item: ScoreInput) -> float:
        """Return the score of `item`, usually in [0, 1]."""
        raise NotImplementedError


class Judge(Component):
    """Asks a model to grade an answer and reads its verdict."""

    kind: ClassVar[Kind] = "judge"

    def render(self, item: JudgeInput) -> str:
        """Return the prompt the judge model is sent for `item`."""
        raise NotImplementedError

    def read(self, raw: str) -> tuple[Any, float | None, str, str | None]:
        """Return (verdict, normalised score, reasoning, error) read from `raw`."""
        raise NotImplementedError
