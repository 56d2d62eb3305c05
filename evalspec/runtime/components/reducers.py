"""Builtin reducers: turn a case's candidates into one answer, or keep them all.

A reducer receives every candidate text of one subject for one case and the
run's parser (`ReduceInput.parse`), so it can compare answers rather than
wordings. Its result is what the parse stage reads: a text, or a list of
texts for `keep_all`.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from evalspec.errors import ComponentError, ParseFailure
from evalspec.runtime import registry
from evalspec.runtime.canonical import canonical_json
from evalspec.runtime.components._text import as_number, canonical_number
from evalspec.runtime.components.base import (
    Metric,
    Params,
    ReduceInput,
    Reducer,
    ScoreInput,
)
from evalspec.runtime.components.parsers import LastNumber
from evalspec.runtime.components.python_ref import PythonRef, first_param_is
from evalspec.runtime.registry import register

__all__ = ["BestOfN", "First", "KeepAll", "MajorityVote", "Mean", "PythonReducer"]


def _require(candidates: Sequence[str], reducer: str) -> None:
    if not candidates:
        msg = f"reducer `{reducer}` received no candidates"
        raise ComponentError(msg)


def _parsed_or_none(parse: Callable[[str], Any], text: str) -> tuple[bool, Any]:
    """Return (True, value) when `text` parses, else (False, None)."""
    try:
        return True, parse(text)
    except ParseFailure:
        return False, None


def _vote_key(value: Any) -> str:
    """Return a hashable key under which equal parsed values compare equal."""
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return repr(value)


class MajorityVoteParams(Params):
    by: Literal["text", "parsed"] = Field(
        "parsed",
        description=(
            "Vote over parsed answers (`parsed`) or over stripped texts (`text`)."
        ),
    )


@register
class MajorityVote(Reducer):
    """Return the candidate whose answer most candidates agree on.

    With ``by parsed`` (the default) the candidates vote with the run's
    parser's values, so ``"It is 42."`` and ``"42"`` agree; candidates the
    parser cannot read abstain, and when none can be read, or the run has no
    parser, the vote is over stripped texts. With ``by text`` it always is.
    A tie goes to the answer that appeared first. The result is the first
    candidate text giving the winning answer, so the parse stage reads the
    same answer again.

    Usage::

        generate { model solver  prompt ask  samples 5 }
        reduce   majority_vote
    """

    id: ClassVar[str] = "majority_vote"
    version: ClassVar[str] = "1"

    @property
    def uses_parser(self) -> bool:
        """Return whether the candidates vote with their parsed answers."""
        return self.params.by == "parsed"

    Params = MajorityVoteParams
    params: MajorityVoteParams

    def reduce(self, item: ReduceInput) -> str:
        """Return the first candidate text carrying the most common answer."""
        _require(item.candidates, self.id)
        keys = self._keys(item)
        counts: dict[str, int] = {}
        for key in keys:
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        # Dicts keep insertion order and max() keeps the first maximum, so a
        # tie goes to the answer whose first occurrence is earliest.
        winner = max(counts, key=counts.__getitem__)

        return item.candidates[keys.index(winner)]

    def _keys(self, item: ReduceInput) -> list[str | None]:
        """Return each candidate's vote, None for a candidate that abstains."""
        texts: list[str | None] = [text.strip() for text in item.candidates]
        if self.params.by == "text" or item.parse is None:
            return texts

        parse = item.parse
        votes: list[str | None] = []
        for text in item.candidates:
            ok, value = _parsed_or_none(parse, text)
            votes.append(_vote_key(value) if ok else None)
        if all(vote is None for vote in votes):
            return texts

        return votes


@register
class First(Reducer):
    """Return the first candidate unchanged.

    Usage::

        reduce first
    """

    id: ClassVar[str] = "first"
    version: ClassVar[str] = "1"

    @property
    def uses_parser(self) -> bool:
        """Return False: the parser plays no part in this reducer."""
        return False

    def reduce(self, item: ReduceInput) -> str:
        """Return the first candidate text."""
        _require(item.candidates, self.id)

        return item.candidates[0]


@register
class Mean(Reducer):
    """Return the mean of the candidates' numeric answers, as a number's text.

    Each candidate's answer is the run's parser's value, or its last number
    when the run has no parser; candidates without a numeric answer are left
    out. The mean is written in canonical form (``"2.5"``, ``"3"``) so a
    number parser reads it back unchanged. When no candidate has a numeric
    answer, reducing fails as a parse failure of the case.

    Usage::

        reduce mean
        parse  last_number
    """

    id: ClassVar[str] = "mean"
    version: ClassVar[str] = "1"

    def reduce(self, item: ReduceInput) -> str:
        """Return the canonical text of the mean of the numeric answers."""
        _require(item.candidates, self.id)
        parse = item.parse or LastNumber().parse
        numbers = []
        for text in item.candidates:
            ok, value = _parsed_or_none(parse, text)
            number = as_number(value) if ok else None
            if number is not None:
                numbers.append(number)
        if not numbers:
            msg = f"none of the {len(item.candidates)} candidates has a numeric answer"
            raise ParseFailure(msg)

        return canonical_number(repr(math.fsum(numbers) / len(numbers)))


@register
class KeepAll(Reducer):
    """Keep every candidate: the parse stage then reads each of them.

    The result is the list of candidate texts, in sample order. Metrics that
    read several answers, such as `pass_at_k`, score the whole list; the
    others score the first candidate's answer.

    Usage::

        generate { model solver  prompt ask  samples 10 }
        reduce   keep_all
        score    pass_at_k { k 5  expected answer }
    """

    id: ClassVar[str] = "keep_all"
    version: ClassVar[str] = "1"

    @property
    def uses_parser(self) -> bool:
        """Return False: the parser plays no part in this reducer."""
        return False

    def reduce(self, item: ReduceInput) -> list[str]:
        """Return the candidate texts as a list."""
        _require(item.candidates, self.id)

        return list(item.candidates)


class BestOfNParams(Params):
    metric: str = Field(
        "exact_match", description="The builtin metric that ranks the candidates."
    )
    expected: str = Field(
        "expected", description="The case field holding the expected answer."
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        registry.get("metric", metric)

        return metric


@register
class BestOfN(Reducer):
    """Return the candidate that scores best on a metric against the reference.

    Each candidate is parsed with the run's parser and scored with `metric`
    (built with its defaults and `expected`); the highest score wins and a
    tie goes to the earliest candidate. Because it ranks by the case's own
    expected answer, it measures an oracle upper bound — how good the best of
    n samples is — not what a system could pick without the reference.

    Usage::

        reduce best_of_n { metric numeric_match  expected answer }
    """

    id: ClassVar[str] = "best_of_n"
    version: ClassVar[str] = "1"
    Params = BestOfNParams
    params: BestOfNParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        metric_class = registry.get("metric", self.params.metric)
        arguments = {}
        if "expected" in metric_class.Params.model_fields:
            arguments["expected"] = self.params.expected
        self._metric = typing.cast(Metric, metric_class(**arguments))

    def reduce(self, item: ReduceInput) -> str:
        """Return the first candidate with the highest metric score."""
        _require(item.candidates, self.id)
        scores = [self._score(text, item) for text in item.candidates]

        return item.candidates[scores.index(max(scores))]

    def _score(self, text: str, item: ReduceInput) -> float:
        parsed: Any = text
        error = None
        if item.parse is not None:
            try:
                parsed = item.parse(text)
            except ParseFailure as exc:
                parsed, error = None, str(exc)
        scored = ScoreInput(
            parsed=parsed,
            reduced=text,
            candidates=item.candidates,
            case=item.case,
            parse_error=error,
        )

        return self._metric.score(scored)


class PythonReducerParams(Params):
    ref: str = Field(description="The function, as `pkg.module:attr`.")
    fingerprint: str = Field(
        "", description="The sha256 of the function's source, set by the compiler."
    )


@register
class PythonReducer(Reducer):
    """Reduce with a Python function of your own.

    The function takes the list of candidate texts, or the whole
    `ReduceInput` (with the case and the run's parser) when its first
    parameter is annotated ``ReduceInput``, and returns the reduced answer:
    a text, or a list of texts to have each parsed.

    Usage::

        reduce python "my_project.reducing:longest"
    """

    id: ClassVar[str] = "python"
    version: ClassVar[str] = "1"
    Params = PythonReducerParams
    params: PythonReducerParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._function = PythonRef(self.params.ref)

    def reduce(self, item: ReduceInput) -> Any:
        """Return the function's reduction of `item`."""
        if first_param_is(self._function.target, ReduceInput):
            return self._function.call(item)

        return self._function.call(list(item.candidates))
