"""Builtin judges: ask a model to grade an answer, then read its verdict.

A judge does not call its model itself. The runtime renders the judge's
prompt with `render`, sends it to the judge model with `request_extra(item)`
as the request's `extra`, and hands the reply to `read`, which never raises:
an unreadable reply gives no verdict and an error saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from evalspec.errors import ComponentError
from evalspec.runtime.components._text import answer_text, case_field
from evalspec.runtime.components.base import Judge, JudgeInput, Params
from evalspec.runtime.registry import register

__all__ = ["PairwiseJudge", "RubricJudge", "render_template"]

Verdict = int | Literal["pass", "fail"]

_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
# A verdict line: optional list or markdown decoration, a label, a colon or
# equals sign, then the value, e.g. "Score: 4", "**Verdict:** PASS".
_VERDICT_LINE_RE = re.compile(
    r"^[\s>*_#-]*(?:final\s+)?(score|verdict|rating|grade)\b[\s*_]*[:=][\s*_]*"
    r"(?P<value>.*?)[\s*_.!]*$",
    re.IGNORECASE | re.MULTILINE,
)
# An integer, perhaps "out of" the top score, not the start of a decimal.
_INTEGER_RE = re.compile(r"(?P<n>[-+]?\d+)(?:\s*(?:/|out\s+of)\s*\d+)?(?![\d.]*\d)")
_WORD_RE = re.compile(r"\w+")
_REASONING_LABEL_RE = re.compile(r"^[\s*_#]*reasoning[\s*_]*:[\s*_]*", re.IGNORECASE)
_PASS_FAIL: dict[str, Literal["pass", "fail"]] = {
    "pass": "pass",
    "passed": "pass",
    "fail": "fail",
    "failed": "fail",
}


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Return `template` with each ``{{ name }}`` replaced by ``values[name]``.

    ``{{ case.field }}`` reads a case field from ``values["case"]``. A name
    that is not known raises ComponentError listing the known ones.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        head, _, rest = name.partition(".")
        if head == "case" and rest:
            return answer_text(case_field(values["case"], rest))
        if name not in values or name == "case":
            known = ", ".join(sorted(k for k in values if k != "case"))
            msg = f"unknown placeholder `{{{{ {name} }}}}` (known: {known})"
            raise ComponentError(msg)

        return answer_text(values[name])

    return _PLACEHOLDER_RE.sub(substitute, template)


class RubricParams(Params):
    rubric: str = Field(description="What the judge grades and how it grades it.")
    scale: tuple[int, int] | Literal["pass_fail"] = Field(
        (1, 5),
        description="The lowest and highest score, or `pass_fail` for PASS/FAIL.",
    )
    reference: str | None = Field(
        None, description="The case field holding a reference answer to show."
    )
    fields: tuple[str, ...] | None = Field(
        None,
        description=(
            "The case fields that describe the task; by default the subject's "
            "prompt, or every case field except `id` and the reference."
        ),
    )
    template: str | None = Field(
        None,
        description=(
            "A custom judge prompt with `{{ rubric }}`, `{{ response }}`, "
            "`{{ reference }}`, `{{ prompt }}`, `{{ instructions }}` and "
            "`{{ case.FIELD }}` placeholders."
        ),
    )

    @field_validator("scale")
    @classmethod
    def _ordered(
        cls, scale: tuple[int, int] | Literal["pass_fail"]
    ) -> tuple[int, int] | Literal["pass_fail"]:
        if scale != "pass_fail" and scale[0] >= scale[1]:
            msg = f"the scale's lowest score {scale[0]} must be below {scale[1]}"
            raise ValueError(msg)

        return scale


@register
class RubricJudge(Judge):
    """Grade the response by a rubric, on a score range or as PASS/FAIL.

    The judge model sees the rubric, the task (the subject's prompt, or the
    case fields listed in `fields`), the response, the reference answer when
    `reference` names a case field, and an instruction to end with a line
    ``Score: N`` (or ``Verdict: PASS`` / ``Verdict: FAIL`` with
    ``scale pass_fail``). The last such line is the verdict; the text before
    it is the reasoning. Scores are normalised to [0, 1]: (N - low) / (high -
    low), PASS is 1 and FAIL is 0. A reply without a readable verdict, or
    with one off the scale, is recorded with an error instead of a score.

    `template` replaces the whole prompt; its placeholders are listed with
    the parameter.

    Usage::

        judge correctness {
          use rubric  model grader  reference answer
          rubric "Is the final answer right?"  scale 1 to 5
        }
    """

    id: ClassVar[str] = "rubric"
    version: ClassVar[str] = "1"
    Params = RubricParams
    params: RubricParams

    @property
    def bounds(self) -> tuple[int, int] | None:
        """Return the (low, high) scores, or None for a PASS/FAIL scale."""
        scale = self.params.scale

        return None if scale == "pass_fail" else (scale[0], scale[1])

    def request_extra(self, item: JudgeInput | None = None) -> dict[str, Any]:
        """Return the context a judge model may use, for `Request.extra`.

        Always the scale (``scale_min``, ``scale_max``, ``pass_fail``); with
        `item`, also its ``response`` and, when the judge has a reference
        field, the ``reference``.
        """
        low, high = self.bounds or (0, 1)
        extra: dict[str, Any] = {
            "scale_min": low,
            "scale_max": high,
            "pass_fail": self.bounds is None,
        }
        if item is not None:
            extra["response"] = item.response
            if self.params.reference is not None:
                extra["reference"] = case_field(item.case, self.params.reference)

        return extra

    def render(self, item: JudgeInput) -> str:
        """Return the prompt the judge model is sent for `item`."""
        values: dict[str, Any] = {
            "rubric": self.params.rubric.strip(),
            "response": item.response,
            "prompt": item.prompt,
            "instructions": self._instructions(),
            "case": item.case,
            "reference": "",
        }
        if self.params.reference is not None:
            values["reference"] = case_field(item.case, self.params.reference)
        if self.params.template is not None:
            return render_template(self.params.template, values)

        return self._default_prompt(item, values)

    def read(self, raw: str) -> tuple[Any, float | None, str, str | None]:
        """Return (verdict, normalised score, reasoning, error) read from `raw`."""
        lines = list(_VERDICT_LINE_RE.finditer(raw))
        if not lines:
            return None, None, raw.strip(), f"no verdict line in the reply; {self._ask}"

        last = lines[-1]
        reasoning = _REASONING_LABEL_RE.sub("", raw[: last.start()].strip(), count=1)
        verdict, score, error = self._verdict(last.group("value").strip())

        return verdict, score, reasoning.strip(), error

    @property
    def _ask(self) -> str:
        if self.bounds is None:
            return "expected `Verdict: PASS` or `Verdict: FAIL`"
        low, high = self.bounds

        return f"expected `Score: N` with N an integer from {low} to {high}"

    def _verdict(self, value: str) -> tuple[Verdict | None, float | None, str | None]:
        """Return (verdict, score, error) for the value on a verdict line."""
        if self.bounds is None:
            word = _WORD_RE.match(value)
            verdict = _PASS_FAIL.get(word.group().lower()) if word else None
            if verdict is None:
                return None, None, f"unreadable verdict {value!r}; {self._ask}"
            return verdict, float(verdict == "pass"), None

        low, high = self.bounds
        number = _INTEGER_RE.match(value)
        if number is None:
            return None, None, f"unreadable score {value!r}; {self._ask}"
        points = int(number.group("n"))
        if not low <= points <= high:
            return None, None, f"score {points} is off the scale; {self._ask}"

        return points, (points - low) / (high - low), None

    def _instructions(self) -> str:
        if self.bounds is None:
            ending = "a final line `Verdict: PASS` or `Verdict: FAIL`"
        else:
            low, high = self.bounds
            ending = (
                f"a final line `Score: N`, where N is an integer from {low} "
                f"(worst) to {high} (best)"
            )

        return (
            "Explain your reasoning briefly, judging only by the rubric, "
            f"then end your reply with {ending}."
        )

    def _default_prompt(self, item: JudgeInput, values: Mapping[str, Any]) -> str:
        sections = [
            "You are grading a response to a task.",
            _section("rubric", values["rubric"]),
            _section("task", self._task(item)),
            _section("response", item.response),
        ]
        if self.params.reference is not None:
            sections.append(_section("reference", answer_text(values["reference"])))
        sections.append(values["instructions"])

        return "\n\n".join(sections) + "\n"

    def _task(self, item: JudgeInput) -> str:
        """Return the description of the task the response answers."""
        if self.params.fields is None and item.prompt:
            return item.prompt.strip()

        names = self.params.fields or [
            name for name in item.case if name not in ("id", self.params.reference)
        ]

        return "\n".join(
            f"{name}: {answer_text(case_field(item.case, name))}" for name in names
        )


def _section(tag: str, body: str) -> str:
    """Return `body` between an opening and a closing tag, each on its own line."""
    return f"<{tag}>\n{body.strip()}\n</{tag}>"


class PairwiseParams(Params):
    rubric: str = Field(description="What makes one response better than the other.")
    baseline: str | None = Field(
        None,
        description=(
            "The subject (`model/prompt`) every other subject is compared with; "
            "by default the first subject of `generate`."
        ),
    )
    reference: str | None = Field(
        None, description="The case field holding a reference answer to show."
    )


_PREFERENCE_RE = re.compile(
    r"^[\s>*_#-]*(?:final\s+)?(?:verdict|winner|preference|better)\b[\s*_]*[:=]"
    r"[\s*_]*(?P<value>[A-Za-z]+)",
    re.IGNORECASE | re.MULTILINE,
)


@register
class PairwiseJudge(Judge):
    """Compare two subjects' responses to the same case and pick the better one.

    Each non-baseline subject is compared with the baseline on every case
    both answered, twice: once with the baseline's response shown first and
    once shown second, so that a judge model's preference for a position
    cancels out. The judge model ends its reply with ``Verdict: A``,
    ``Verdict: B`` or ``Verdict: TIE``. The subject scores 1 for a win in
    both orders, 0 for a loss in both, and 0.5 otherwise (a tie, or orders
    that disagree); its mean is the win rate against the baseline, reported
    under the judge's name for the subject.

    Usage::

        judge preference {
          use pairwise  model grader  reference answer
          rubric "Which response answers the question correctly and clearly?"
        }
    """

    id: ClassVar[str] = "pairwise"
    version: ClassVar[str] = "1"
    Params = PairwiseParams
    params: PairwiseParams
    pairwise: ClassVar[bool] = True

    def request_extra(self, item: JudgeInput | None = None) -> dict[str, Any]:
        """Return the context a judge model may use: that this is a comparison."""
        return {"pairwise": True}

    def render(self, item: JudgeInput) -> str:
        """Refuse: a pairwise judge renders pairs, with `render_pair`."""
        msg = "a pairwise judge compares two responses; use render_pair()"
        raise ComponentError(msg)

    def read(self, raw: str) -> tuple[Any, float | None, str, str | None]:
        """Return (preference, score of A, reasoning, error) read from `raw`."""
        found = list(_PREFERENCE_RE.finditer(raw))
        if not found:
            error = "no verdict line; expected `Verdict: A`, `Verdict: B` or `TIE`"
            return None, None, raw.strip(), error
        last = found[-1]
        value = last.group("value").upper()
        reasoning = _REASONING_LABEL_RE.sub("", raw[: last.start()].strip(), count=1)
        scores = {"A": 1.0, "B": 0.0, "TIE": 0.5}
        if value not in scores:
            error = f"unreadable verdict {value!r}; expected A, B or TIE"
            return None, None, reasoning.strip(), error

        return value, scores[value], reasoning.strip(), None

    def render_pair(self, first: JudgeInput, second: JudgeInput) -> str:
        """Return the prompt comparing `first` (shown as A) with `second` (B)."""
        sections = [
            "You are comparing two responses to the same task.",
            _section("rubric", self.params.rubric.strip()),
            _section("task", first.prompt.strip() or _case_text(first.case)),
            _section("response A", first.response),
            _section("response B", second.response),
        ]
        if self.params.reference is not None:
            reference = case_field(first.case, self.params.reference)
            sections.append(_section("reference", answer_text(reference)))
        sections.append(
            "Explain briefly which response is better by the rubric, then end "
            "with a final line `Verdict: A`, `Verdict: B` or `Verdict: TIE`."
        )

        return "\n\n".join(sections) + "\n"

    @staticmethod
    def combine(forward: float | None, backward: float | None) -> float | None:
        """Return the subject's score from both orders' scores of the subject.

        Either order without a verdict gives no score.
        """
        if forward is None or backward is None:
            return None
        if forward == backward == 1.0:
            return 1.0
        if forward == backward == 0.0:
            return 0.0

        return 0.5


def _case_text(case: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}: {answer_text(v)}" for k, v in case.items() if k != "id")
