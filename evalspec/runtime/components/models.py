"""Builtin offline models: oracles, graders, fixed answers and Python functions.

None of them calls a network service, so a whole pipeline can run, be
tested and be demonstrated without credentials. Each accepts `delay`, the
seconds it waits before answering, to make latency and concurrency visible.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import anyio
from pydantic import Field

from evalspec.errors import ComponentError, EvalSpecError
from evalspec.runtime.canonical import canonical_json
from evalspec.runtime.components._text import (
    NUMBER_RE,
    answer_text,
    as_number,
    canonical_number,
    case_field,
)
from evalspec.runtime.components.base import Completion, Model, Params, Request
from evalspec.runtime.components.python_ref import PythonRef, first_param_is
from evalspec.runtime.registry import register

__all__ = [
    "Constant",
    "Echo",
    "ModelParams",
    "NoisyOracle",
    "PythonModel",
    "ReferenceGrader",
]

# The answer the oracle gives when it is wrong about a non-numeric answer.
WRONG_ANSWER = "I do not know"


class ModelParams(Params):
    """Parameters every builtin model accepts."""

    delay: float = Field(
        0.0, ge=0.0, description="Seconds to wait before answering (simulated latency)."
    )


class _OfflineModel(Model):
    """A builtin model that answers from the request alone, after `delay`."""

    params: ModelParams

    async def complete(self, request: Request) -> Completion:
        """Wait `delay` seconds, then return the answer for `request`."""
        if self.params.delay > 0:
            await anyio.sleep(self.params.delay)

        return Completion(text=self.answer(request), model=self.id)

    def answer(self, request: Request) -> str:
        """Return the text answering `request`."""
        raise NotImplementedError


class NoisyOracleParams(ModelParams):
    answer_field: str = Field(
        "answer", description="The case field holding the right answer."
    )
    error_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Probability of answering wrongly."
    )
    template: str = Field(
        "The answer is {answer}.",
        description="The reply, with `{answer}` where the answer goes.",
    )


@register
class NoisyOracle(_OfflineModel):
    """Answer from the case's own answer field, wrong at a chosen rate.

    Each (seed, sample, case, prompt) is wrong with probability `error_rate`,
    decided by a sha256 hash of those four, so the same request always gets
    the same reply, different samples of a case differ, and a run is
    reproducible. A wrong numeric answer is a nearby different number
    (off by 1 to 5); any other wrong answer is ``"I do not know"``.

    The reply is `template` with the answer in place of ``{answer}``:
    ``"The answer is 42."`` by default.

    Usage::

        model solver { use noisy_oracle  error_rate 0.2  answer_field answer }
    """

    id: ClassVar[str] = "noisy_oracle"
    version: ClassVar[str] = "1"
    Params = NoisyOracleParams
    params: NoisyOracleParams

    def answer(self, request: Request) -> str:
        """Return the templated answer, right or wrong as the hash decides."""
        truth = case_field(request.case, self.params.answer_field)
        draw = self._draw(request)
        roll = int.from_bytes(draw[:8], "big") / 2**64
        text = answer_text(truth)
        if roll < self.params.error_rate:
            text = _wrong_answer(text, draw[8], draw[9])

        return self.params.template.replace("{answer}", text)

    def _draw(self, request: Request) -> bytes:
        payload = canonical_json(
            [request.seed, request.sample, dict(request.case), request.prompt]
        )

        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest()


def _wrong_answer(right: str, offset_byte: int, sign_byte: int) -> str:
    """Return an answer different from `right`, near it when it is a number."""
    if as_number(right) is None:
        return WRONG_ANSWER if right != WRONG_ANSWER else "I am not sure"

    number = Decimal(canonical_number(right))
    offset = 1 + offset_byte % 5
    if sign_byte % 2 and (number < 0 or number - offset >= 0):
        offset = -offset

    return canonical_number(str(number + offset))


@register
class ReferenceGrader(_OfflineModel):
    """Grade a response against its reference, offline, as a judge model.

    It reads ``response`` and ``reference`` from the request's `extra` (a
    judge with a `reference` field puts them there) and gives the top of the
    scale when the reference appears in the response, the bottom otherwise.
    A numeric reference must equal one of the response's numbers; any other
    reference must appear as a whole run of words, ignoring case. The reply
    ends with ``Score: N`` on the scale ``scale_min`` to ``scale_max`` from
    `extra` (1 to 5 by default), or ``Verdict: PASS``/``Verdict: FAIL`` when
    `extra` has ``pass_fail`` set. For a pairwise judge it reads the two
    ``responses`` and answers ``Verdict: A`` or ``B`` for the one matching
    the reference, ``TIE`` when both or neither do.

    Usage::

        model grader { use reference_grader }
    """

    id: ClassVar[str] = "reference_grader"
    version: ClassVar[str] = "1"
    Params = ModelParams

    def answer(self, request: Request) -> str:
        """Return the reasoning line and the verdict line for `request`."""
        if request.extra.get("pairwise"):
            return self._compare(request)
        response = self._extra(request, "response")
        reference = self._extra(request, "reference")
        matched, reasoning = _grade(response, reference)
        if request.extra.get("pass_fail"):
            verdict = "Verdict: " + ("PASS" if matched else "FAIL")
        else:
            low = request.extra.get("scale_min", 1)
            high = request.extra.get("scale_max", 5)
            verdict = f"Score: {high if matched else low}"

        return f"Reasoning: {reasoning}\n{verdict}"

    def _compare(self, request: Request) -> str:
        """Prefer the response matching the reference; TIE when both or none do."""
        first, second = request.extra.get("responses") or ("", "")
        reference = self._extra(request, "reference")
        a, _ = _grade(answer_text(first), reference)
        b, _ = _grade(answer_text(second), reference)
        if a == b:
            reasoning = "both responses match" if a else "neither response matches"
            return f"Reasoning: {reasoning} the reference {reference}.\nVerdict: TIE"
        winner = "A" if a else "B"

        return (
            f"Reasoning: only response {winner} matches the reference "
            f"{reference}.\nVerdict: {winner}"
        )

    def _extra(self, request: Request, key: str) -> str:
        value = request.extra.get(key)
        if value is None:
            msg = (
                f"model `reference_grader` needs `{key}` in the request; "
                "use it as the model of a judge that sets `reference`"
            )
            raise ComponentError(msg)

        return answer_text(value)


def _grade(response: str, reference: str) -> tuple[bool, str]:
    """Return whether `reference` appears in `response`, and why."""
    if as_number(reference) is not None:
        expected = canonical_number(reference)
        stated = [canonical_number(m.group()) for m in NUMBER_RE.finditer(response)]
        if expected in stated:
            return True, f"the response states {expected}, the reference is {expected}."
        said = ", ".join(stated) if stated else "no number"
        return False, f"the response states {said}, the reference is {expected}."

    words = _words(reference)
    found = _words(response)
    width = len(words)
    matched = bool(words) and any(
        found[i : i + width] == words for i in range(len(found) - width + 1)
    )
    state = "contains" if matched else "does not contain"

    return matched, f"the response {state} the reference {reference!r}."


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class EchoParams(ModelParams):
    prefix: str = Field("", description="Text put before the echoed prompt.")


@register
class Echo(_OfflineModel):
    """Reply with the prompt itself, after an optional prefix.

    Useful to check what a prompt renders to, and as a subject in tests of a
    pipeline's plumbing.

    Usage::

        model mirror { use echo  prefix "You said: " }
    """

    id: ClassVar[str] = "echo"
    version: ClassVar[str] = "1"
    Params = EchoParams
    params: EchoParams

    def answer(self, request: Request) -> str:
        """Return the prefix followed by the request's prompt."""
        return self.params.prefix + request.prompt


class ConstantParams(ModelParams):
    text: str = Field("", description="The reply to every request.")


@register
class Constant(_OfflineModel):
    """Reply with the same text to every request.

    A baseline: the score of a model that ignores its input.

    Usage::

        model baseline { use constant  text "42" }
    """

    id: ClassVar[str] = "constant"
    version: ClassVar[str] = "1"
    Params = ConstantParams
    params: ConstantParams

    def answer(self, request: Request) -> str:
        """Return the configured text."""
        return self.params.text


class PythonModelParams(ModelParams):
    ref: str = Field(description="The function, as `pkg.module:attr`.")
    fingerprint: str = Field(
        "", description="The sha256 of the function's source, set by the compiler."
    )


@register
class PythonModel(Model):
    """Answer with a Python function of your own.

    The function takes the prompt text, or the whole `Request` when its first
    parameter is annotated ``Request``, and returns a string or a
    `Completion`. It may be ``async def``; a plain function runs in a worker
    thread so that a slow one does not hold up other cases. It is imported on
    first use; the compiler records the sha256 of its source as
    `fingerprint`, so editing the function changes the run's identity.

    Usage::

        model mine { use python "my_project.models:answer" }
    """

    id: ClassVar[str] = "python"
    version: ClassVar[str] = "1"
    Params = PythonModelParams
    params: PythonModelParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._function = PythonRef(self.params.ref)

    async def complete(self, request: Request) -> Completion:
        """Wait `delay` seconds, then return the function's answer to `request`."""
        if self.params.delay > 0:
            await anyio.sleep(self.params.delay)

        function = self._function.target
        argument = request if first_param_is(function, Request) else request.prompt
        if inspect.iscoroutinefunction(function):
            result = await _guarded(self._function.ref, function, argument)
        else:
            result = await anyio.to_thread.run_sync(self._function.call, argument)
        if inspect.isawaitable(result):
            result = await result

        return self._completion(result)

    def _completion(self, result: Any) -> Completion:
        if isinstance(result, Completion):
            return result
        if isinstance(result, str):
            return Completion(text=result, model=self.params.ref)

        msg = (
            f"python model `{self.params.ref}` returned a {type(result).__name__}; "
            "return a str or a Completion"
        )
        raise ComponentError(msg)


async def _guarded(ref: str, function: Callable[..., Any], argument: Any) -> Any:
    """Await `function(argument)`, turning a foreign exception into ComponentError."""
    try:
        return await function(argument)
    except EvalSpecError:
        raise
    except Exception as exc:
        msg = f"`{ref}` raised {type(exc).__name__}: {exc}"
        raise ComponentError(msg) from exc
