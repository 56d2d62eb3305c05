"""Builtin metrics: score one case's parsed answer, usually against a case field.

Every metric scores a failed parse 0.0, reads the first value when the
reducer kept every candidate (except `pass_at_k`, which reads them all), and
accepts a list in the expected field as several acceptable references,
scoring the best of them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field, field_validator

from evalspec.errors import ComponentError, ParseFailure
from evalspec.runtime.components._overlap import rouge_l, sentence_bleu
from evalspec.runtime.components._text import (
    answer_text,
    as_number,
    case_field,
    first_value,
    json_path,
    remove_articles,
    remove_punctuation,
    squad_normalize,
)
from evalspec.runtime.components.base import Metric, Params, ScoreInput
from evalspec.runtime.components.python_ref import PythonRef, first_param_is
from evalspec.runtime.registry import register

__all__ = [
    "Bleu",
    "ChoiceAccuracy",
    "Contains",
    "ExactMatch",
    "JsonFieldMatch",
    "NumericMatch",
    "PassAtK",
    "PythonMetric",
    "RegexMatch",
    "RougeL",
    "SquadExactMatch",
    "SquadF1",
]


class ExpectedParams(Params):
    """Parameters of a metric that compares against a case field."""

    expected: str = Field(
        "expected", description="The case field holding the expected answer."
    )


class _ReferenceMetric(Metric):
    """A metric comparing the parsed answer with the references in a case field."""

    params: ExpectedParams

    def score(self, item: ScoreInput) -> float:
        """Return the best score of the answer against any reference, 0 on failure."""
        answer = first_value(item.parsed)
        if item.parse_error is not None or answer is None:
            return 0.0

        return max(self.compare(answer, ref) for ref in self.references(item))

    def references(self, item: ScoreInput) -> list[Any]:
        """Return the acceptable references held in the case's expected field."""
        value = case_field(item.case, self.params.expected)

        return list(value) if isinstance(value, list | tuple) else [value]

    def compare(self, answer: Any, reference: Any) -> float:
        """Return the score of `answer` against one reference."""
        raise NotImplementedError


def _without_articles(text: str) -> str:
    """Return `text` without articles, with the spaces they leave collapsed."""
    return " ".join(remove_articles(text).split())


class ExactMatchParams(ExpectedParams):
    ignore_case: bool = Field(False, description="Compare case-insensitively.")
    ignore_whitespace: bool = Field(
        False, description="Remove all whitespace before comparing."
    )
    ignore_punctuation: bool = Field(
        False, description="Remove punctuation before comparing."
    )
    ignore_articles: bool = Field(
        False, description="Remove the English articles a, an and the."
    )


@register
class ExactMatch(_ReferenceMetric):
    """Score 1.0 when the answer equals the expected field's value, else 0.0.

    Numbers compare in canonical form (``42`` in the data equals the parsed
    ``"42"``); otherwise the texts must be identical, character for
    character, unless the `ignore_*` options relax it. They apply in the
    order case, punctuation, articles, whitespace, and `ignore_whitespace`
    removes whitespace entirely (``"New York"`` equals ``"newyork"`` with
    `ignore_case`). Removing articles also collapses the spaces they leave,
    so ``"the cat"`` equals ``"cat"``. A list in the expected field accepts
    any of its values.

    Usage::

        score exact_match { expected answer  ignore_case true }
    """

    id: ClassVar[str] = "exact_match"
    version: ClassVar[str] = "1"
    Params = ExactMatchParams
    params: ExactMatchParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when the normalised texts are equal, else 0.0."""
        same = self._normalize(answer) == self._normalize(reference)

        return float(same)

    def _normalize(self, value: Any) -> str:
        text = answer_text(value)
        steps: list[tuple[bool, Callable[[str], str]]] = [
            (self.params.ignore_case, str.casefold),
            (self.params.ignore_punctuation, remove_punctuation),
            (self.params.ignore_articles, _without_articles),
            (self.params.ignore_whitespace, lambda s: "".join(s.split())),
        ]
        for enabled, step in steps:
            if enabled:
                text = step(text)

        return text


class ContainsParams(ExpectedParams):
    ignore_case: bool = Field(False, description="Compare case-insensitively.")


@register
class Contains(_ReferenceMetric):
    """Score 1.0 when the expected text appears within the answer, else 0.0.

    Numbers in the expected field are looked for in canonical form. A list
    in the expected field accepts any of its values.

    Usage::

        score contains { expected answer  ignore_case true }
    """

    id: ClassVar[str] = "contains"
    version: ClassVar[str] = "1"
    Params = ContainsParams
    params: ContainsParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when `reference` occurs in `answer`, else 0.0."""
        needle, haystack = answer_text(reference), answer_text(answer)
        if self.params.ignore_case:
            needle, haystack = needle.casefold(), haystack.casefold()

        return float(needle in haystack)


class RegexMatchParams(ExpectedParams):
    pattern: str | None = Field(
        None,
        description=(
            "The regular expression the answer must match; by default the "
            "expected field holds it."
        ),
    )
    full: bool = Field(
        False, description="Require the whole answer to match, not just a part."
    )
    ignore_case: bool = Field(False, description="Match case-insensitively.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile(pattern, 0)

        return pattern


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        msg = f"invalid regular expression {pattern!r}: {exc}"
        raise ComponentError(msg) from None


@register
class RegexMatch(_ReferenceMetric):
    """Score 1.0 when the answer matches a regular expression, else 0.0.

    The pattern is `pattern` when given, else the value of the case's
    expected field, so each case may carry its own. A match anywhere counts
    unless `full` is set.

    Usage::

        score regex_match { pattern "^(yes|no)$"  ignore_case true }
    """

    id: ClassVar[str] = "regex_match"
    version: ClassVar[str] = "1"
    Params = RegexMatchParams
    params: RegexMatchParams

    def references(self, item: ScoreInput) -> list[Any]:
        """Return the fixed pattern, or the patterns in the expected field."""
        if self.params.pattern is not None:
            return [self.params.pattern]

        return super().references(item)

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when `answer` matches the pattern `reference`, else 0.0."""
        flags = re.IGNORECASE if self.params.ignore_case else 0
        pattern = _compile(str(reference), flags)
        text = answer_text(answer)
        found = pattern.fullmatch(text) if self.params.full else pattern.search(text)

        return float(found is not None)


class NumericMatchParams(ExpectedParams):
    abs_tol: float = Field(0.0, ge=0.0, description="Absolute tolerance.")
    rel_tol: float = Field(
        1e-9, ge=0.0, description="Tolerance relative to the larger magnitude."
    )


@register
class NumericMatch(_ReferenceMetric):
    """Score 1.0 when the answer equals the expected number within tolerance.

    The answer and the expected value may be numbers or numbers' texts
    (``"1,234.0"`` equals ``1234``); they are close when ``math.isclose``
    says so with `abs_tol` and `rel_tol`. An answer that is not a number
    scores 0.0; an expected value that is not a number is an error of the
    case.

    Usage::

        score numeric_match { expected answer  abs_tol 0.01 }
    """

    id: ClassVar[str] = "numeric_match"
    version: ClassVar[str] = "1"
    Params = NumericMatchParams
    params: NumericMatchParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when the two numbers are close, else 0.0."""
        expected = as_number(reference)
        if expected is None:
            msg = (
                f"numeric_match: the expected field `{self.params.expected}` holds "
                f"{reference!r}, which is not a number"
            )
            raise ComponentError(msg)
        number = as_number(answer)
        if number is None:
            return 0.0

        close = math.isclose(
            number, expected, rel_tol=self.params.rel_tol, abs_tol=self.params.abs_tol
        )

        return float(close)


@register
class SquadExactMatch(_ReferenceMetric):
    """Score 1.0 when the answer equals a reference after SQuAD normalisation.

    Both are lowercased and stripped of ASCII punctuation, the articles a, an
    and the, and extra whitespace, as the official SQuAD evaluation does. A
    list in the expected field holds several references; the best counts.

    Usage::

        score squad_exact_match { expected answers }
    """

    id: ClassVar[str] = "squad_exact_match"
    version: ClassVar[str] = "1"
    Params = ExpectedParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when the normalised texts are equal, else 0.0."""
        same = squad_normalize(answer_text(answer)) == squad_normalize(
            answer_text(reference)
        )

        return float(same)


@register
class SquadF1(_ReferenceMetric):
    """Score the token overlap F1 between the answer and a reference, as SQuAD does.

    Texts are normalised as `squad_exact_match` normalises them, then split on
    whitespace; F1 is the harmonic mean of the precision and recall of the
    shared tokens, counted with multiplicity. When either normalised text is
    empty the score is 1.0 if both are, else 0.0 (SQuAD 2.0's rule). With
    several references the best counts.

    Usage::

        score squad_f1 { expected answers }
    """

    id: ClassVar[str] = "squad_f1"
    version: ClassVar[str] = "1"
    Params = ExpectedParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return the token F1 of `answer` against `reference`."""
        predicted = squad_normalize(answer_text(answer)).split()
        gold = squad_normalize(answer_text(reference)).split()
        if not predicted or not gold:
            return float(predicted == gold)

        shared = sum((Counter(predicted) & Counter(gold)).values())
        if shared == 0:
            return 0.0
        precision = shared / len(predicted)
        recall = shared / len(gold)

        return 2 * precision * recall / (precision + recall)


def _same_answer(answer: Any, reference: Any) -> bool:
    """Return whether two answers agree: as numbers when both are, else as text."""
    number, expected = as_number(answer), as_number(reference)
    if number is not None and expected is not None:
        return number == expected

    return answer_text(answer).strip() == answer_text(reference).strip()


class PassAtKParams(ExpectedParams):
    k: int = Field(1, ge=1, description="How many attempts may be made.")


@register
class PassAtK(_ReferenceMetric):
    """Estimate the chance that at least one of k samples is right (pass@k).

    Reads every parsed candidate (use ``reduce keep_all``): of n candidates,
    c equal the expected answer (as numbers when both are numbers, else as
    stripped texts; an unparseable candidate is wrong), and the score is the
    unbiased estimator 1 - C(n - c, k) / C(n, k) of Chen et al. (2021). It
    needs at least k candidates.

    Usage::

        generate { model solver  prompt ask  samples 10 }
        reduce   keep_all
        score    pass_at_k { k 5  expected answer }
    """

    id: ClassVar[str] = "pass_at_k"
    version: ClassVar[str] = "1"
    Params = PassAtKParams
    params: PassAtKParams

    def score(self, item: ScoreInput) -> float:
        """Return the pass@k estimate over the case's parsed candidates."""
        parsed = item.parsed
        answers = parsed if isinstance(parsed, list | tuple) else [parsed]
        n, k = len(answers), self.params.k
        if n < k:
            msg = f"pass_at_k with k={k} needs at least {k} candidates, got {n}"
            raise ComponentError(msg)
        if item.parse_error is not None:
            return 0.0

        references = self.references(item)
        right = sum(
            answer is not None and any(_same_answer(answer, r) for r in references)
            for answer in answers
        )

        return 1.0 - math.comb(n - right, k) / math.comb(n, k)


class ChoiceAccuracyParams(ExpectedParams):
    letters: str = Field(
        "ABCDEFGHIJ", description="The option letters, in order, e.g. `ABCD`."
    )


@register
class ChoiceAccuracy(_ReferenceMetric):
    """Score 1.0 when the chosen option is the expected one, else 0.0.

    The expected field holds the right option's letter (``"C"``, ``"(c)"``)
    or its 0-based index (``2``), read against `letters`. The answer is
    usually a letter from the `choice_letter` parser.

    Usage::

        parse choice_letter
        score choice_accuracy { expected answer  letters "ABCD" }
    """

    id: ClassVar[str] = "choice_accuracy"
    version: ClassVar[str] = "1"
    Params = ChoiceAccuracyParams
    params: ChoiceAccuracyParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when `answer` names the option `reference` names."""
        return float(_letter(answer) == self._expected_letter(reference))

    def _expected_letter(self, reference: Any) -> str:
        letters = self.params.letters.upper()
        if isinstance(reference, int) and not isinstance(reference, bool):
            if 0 <= reference < len(letters):
                return letters[reference]
        elif _letter(reference) in letters and len(_letter(reference)) == 1:
            return _letter(reference)

        msg = (
            f"choice_accuracy: the expected field `{self.params.expected}` holds "
            f"{reference!r}, which names none of the options {letters}"
        )
        raise ComponentError(msg)


def _letter(value: Any) -> str:
    return str(value).strip().strip("().[] ").upper()


class JsonFieldMatchParams(ExpectedParams):
    field: str = Field(
        description="The dotted path of the answer's field, e.g. `result.total`."
    )


@register
class JsonFieldMatch(_ReferenceMetric):
    """Score 1.0 when a field of a JSON answer equals the expected value.

    The answer is the value of the `json` parser (or a JSON text); `field`
    is a dotted path of keys and list indices inside it. Values are equal
    when they are equal as JSON values or as text, so ``"42"`` matches
    ``42``. A missing field scores 0.0.

    Usage::

        parse json
        score json_field_match { field "answer.value"  expected answer }
    """

    id: ClassVar[str] = "json_field_match"
    version: ClassVar[str] = "1"
    Params = JsonFieldMatchParams
    params: JsonFieldMatchParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return 1.0 when the answer's field equals `reference`, else 0.0."""
        if isinstance(answer, str):
            try:
                answer = json.loads(answer)
            except ValueError:
                return 0.0
        try:
            value = json_path(answer, self.params.field)
        except ParseFailure:
            return 0.0
        same = value == reference or answer_text(value) == answer_text(reference)

        return float(same)


@register
class Bleu(Metric):
    """Score the sentence BLEU of the answer against the reference, in [0, 1].

    The same value as ``sacrebleu.sentence_bleu(answer, refs).score / 100``
    with sacrebleu's defaults: 13a tokenization, exponential smoothing and
    effective n-gram order. A list in the expected field holds several
    references, used together as BLEU uses them. Sentence BLEU is noisy; it
    is a per-case stand-in for corpus BLEU, not equal to it.

    Usage::

        score bleu { expected translation }
    """

    id: ClassVar[str] = "bleu"
    version: ClassVar[str] = "1"
    Params = ExpectedParams
    params: ExpectedParams

    def score(self, item: ScoreInput) -> float:
        """Return the sentence BLEU of the answer against every reference."""
        answer = first_value(item.parsed)
        if item.parse_error is not None or answer is None:
            return 0.0

        value = case_field(item.case, self.params.expected)
        references = value if isinstance(value, list | tuple) else [value]

        return sentence_bleu(answer_text(answer), [answer_text(r) for r in references])


@register
class RougeL(_ReferenceMetric):
    """Score the ROUGE-L F-measure of the answer against the reference.

    The same value as rouge-score's ``RougeScorer(["rougeL"])``
    F-measure with its default tokenizer (lowercase ASCII letters and
    digits) and no stemming. With several references the best counts.

    Usage::

        score rouge_l { expected summary }
    """

    id: ClassVar[str] = "rouge_l"
    version: ClassVar[str] = "1"
    Params = ExpectedParams

    def compare(self, answer: Any, reference: Any) -> float:
        """Return the ROUGE-L F-measure of `answer` against `reference`."""
        return rouge_l(answer_text(answer), answer_text(reference))


class PythonMetricParams(Params):
    ref: str = Field(description="The function, as `pkg.module:attr`.")
    fingerprint: str = Field(
        "", description="The sha256 of the function's source, set by the compiler."
    )
    name: str | None = Field(
        None, description="The metric's name in reports; by default the function's."
    )


@register
class PythonMetric(Metric):
    """Score with a Python function of your own.

    The function takes ``(parsed, case)`` — the parsed answer and the case's
    fields — or the whole `ScoreInput` when its first parameter is annotated
    ``ScoreInput``, and returns a float or a bool (True is 1.0). With the
    two-argument form a failed parse scores 0.0 without calling it; the
    `ScoreInput` form sees `parse_error` and decides.

    Usage::

        score python "my_project.scoring:within_budget"
    """

    id: ClassVar[str] = "python"
    version: ClassVar[str] = "1"
    Params = PythonMetricParams
    params: PythonMetricParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._function = PythonRef(self.params.ref)

    @property
    def name(self) -> str:
        """Return `name`, or the function's attribute name."""
        return self.params.name or self.params.ref.rpartition(":")[2]

    def score(self, item: ScoreInput) -> float:
        """Return the function's score for `item` as a float."""
        if first_param_is(self._function.target, ScoreInput):
            result = self._function.call(item)
        elif item.parse_error is not None:
            return 0.0
        else:
            result = self._function.call(item.parsed, item.case)

        return self._as_score(result)

    def _as_score(self, result: Any) -> float:
        if isinstance(result, bool | int | float):
            return float(result)

        msg = (
            f"python metric `{self.params.ref}` returned a "
            f"{type(result).__name__}; return a float or a bool"
        )
        raise ComponentError(msg)
