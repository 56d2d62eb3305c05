"""The builtin offline models: oracle, grader, echo, constant and python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from evalspec.errors import ComponentError
from evalspec.runtime.components.base import Completion, Message, Request
from evalspec.runtime.components.models import (
    Constant,
    Echo,
    NoisyOracle,
    PythonModel,
    ReferenceGrader,
)
from evalspec.runtime.components.parsers import LastNumber

pytestmark = pytest.mark.anyio


def ask(case: dict[str, Any], prompt: str = "Q?", **fields: Any) -> Request:
    return Request(messages=(Message("user", prompt),), case=case, **fields)


async def answers(model: NoisyOracle, cases: int, **fields: Any) -> list[str]:
    return [
        (await model.complete(ask({"answer": i}, **fields))).text for i in range(cases)
    ]


async def test_noisy_oracle_without_errors_states_the_answer() -> None:
    """At error rate 0 every reply states the case's answer in the template."""
    completion = await NoisyOracle().complete(ask({"answer": 42}))

    assert completion.text == "The answer is 42."


async def test_noisy_oracle_error_rate_is_close_to_the_requested_rate() -> None:
    """At error rate 0.2, between 15% and 25% of 1000 cases are answered wrongly."""
    replies = await answers(NoisyOracle(error_rate=0.2), 1000, seed=7)
    wrong = sum(reply != f"The answer is {i}." for i, reply in enumerate(replies))

    assert 150 <= wrong <= 250


async def test_noisy_oracle_replies_are_deterministic_across_instances() -> None:
    """The same requests get the same replies from a fresh oracle."""
    first = await answers(NoisyOracle(error_rate=0.5), 50, seed=3)
    second = await answers(NoisyOracle(error_rate=0.5), 50, seed=3)

    assert first == second


async def test_noisy_oracle_seed_changes_which_cases_are_wrong() -> None:
    """Another seed gives another pattern of wrong answers."""
    seed_1 = await answers(NoisyOracle(error_rate=0.5), 50, seed=1)
    seed_2 = await answers(NoisyOracle(error_rate=0.5), 50, seed=2)

    assert seed_1 != seed_2


async def test_noisy_oracle_samples_of_one_case_differ() -> None:
    """Different sample indexes of one case are drawn independently."""
    oracle = NoisyOracle(error_rate=0.5)
    replies = {
        (await oracle.complete(ask({"answer": 7}, sample=s))).text for s in range(20)
    }

    assert "The answer is 7." in replies
    assert len(replies) > 1


async def test_noisy_oracle_wrong_number_is_nearby_and_different() -> None:
    """A wrong numeric answer is off by 1 to 5 and never negative for a count."""
    oracle = NoisyOracle(error_rate=1.0)
    parse = LastNumber().parse
    for truth in range(40):
        reply = (await oracle.complete(ask({"answer": truth}, sample=truth))).text
        wrong = int(parse(reply))

        assert 1 <= abs(wrong - truth) <= 5
        assert wrong >= 0


async def test_noisy_oracle_wrong_text_answer_is_a_fixed_string() -> None:
    """A wrong non-numeric answer is always the same refusal."""
    oracle = NoisyOracle(error_rate=1.0, template="{answer}")

    reply = await oracle.complete(ask({"answer": "Paris"}))

    assert reply.text == "I do not know"


async def test_noisy_oracle_reads_the_configured_field() -> None:
    """`answer_field` names the case field holding the right answer."""
    oracle = NoisyOracle(answer_field="label", template="{answer}")

    reply = await oracle.complete(ask({"label": "spam"}))

    assert reply.text == "spam"


async def test_noisy_oracle_missing_field_names_it() -> None:
    """A case without the answer field is a ComponentError naming the field."""
    with pytest.raises(ComponentError, match="no field `answer`.*`question`"):
        await NoisyOracle().complete(ask({"question": "2+2"}))


def test_noisy_oracle_error_rate_above_one_is_rejected() -> None:
    """An error rate outside [0, 1] is an invalid parameter."""
    with pytest.raises(ComponentError, match="error_rate"):
        NoisyOracle(error_rate=1.5)


async def test_builtin_model_delay_sleeps_before_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`delay` awaits anyio.sleep with the configured seconds."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    await NoisyOracle(delay=0.25).complete(ask({"answer": 1}))
    await Constant(delay=0.5).complete(ask({}))

    assert slept == [0.25, 0.5]


def grade_request(response: str, reference: Any, **extra: Any) -> Request:
    return ask({}, extra={"response": response, "reference": reference, **extra})


async def test_reference_grader_matching_number_gets_the_top_score() -> None:
    """A response stating the reference number gets the scale's maximum."""
    reply = await ReferenceGrader().complete(grade_request("So it is 42.", 42))

    assert reply.text == (
        "Reasoning: the response states 42, the reference is 42.\nScore: 5"
    )


async def test_reference_grader_other_number_gets_the_bottom_score() -> None:
    """A response with other numbers gets the minimum and names them."""
    request = grade_request("3 apples and 41 pears", "42", scale_min=0, scale_max=10)

    reply = await ReferenceGrader().complete(request)

    assert reply.text.endswith("states 3, 41, the reference is 42.\nScore: 0")


async def test_reference_grader_text_reference_matches_whole_words() -> None:
    """A text reference must appear as whole words, ignoring case."""
    grader = ReferenceGrader()

    hit = await grader.complete(grade_request("It is new york city.", "New York"))
    miss = await grader.complete(grade_request("Newark", "New York"))

    assert hit.text.endswith("Score: 5")
    assert miss.text.endswith("Score: 1")


async def test_reference_grader_pass_fail_gives_a_verdict() -> None:
    """With `pass_fail` in the request the reply ends with a PASS/FAIL verdict."""
    grader = ReferenceGrader()

    passed = await grader.complete(grade_request("42", 42, pass_fail=True))
    failed = await grader.complete(grade_request("43", 42, pass_fail=True))

    assert passed.text.endswith("\nVerdict: PASS")
    assert failed.text.endswith("\nVerdict: FAIL")


async def test_reference_grader_without_reference_says_what_is_missing() -> None:
    """A request without a reference is a ComponentError naming `reference`."""
    request = ask({}, extra={"response": "42", "reference": None})

    with pytest.raises(ComponentError, match="needs `reference`"):
        await ReferenceGrader().complete(request)


async def test_echo_returns_the_prompt_after_its_prefix() -> None:
    """echo replies with its prefix and the joined messages."""
    request = Request(messages=(Message("system", "Be brief."), Message("user", "Hi")))

    reply = await Echo(prefix="> ").complete(request)

    assert reply.text == "> Be brief.\n\nHi"


async def test_constant_returns_its_text_whatever_the_prompt() -> None:
    """constant ignores the request."""
    reply = await Constant(text="42").complete(ask({}, prompt="anything"))

    assert reply.text == "42"


async def test_python_model_sync_function_receives_the_prompt(
    write_module: Callable[..., str],
) -> None:
    """A plain function gets the prompt text and its string is the reply."""
    module = write_module(
        "pm_sync",
        """
        def shout(prompt):
            return prompt.upper()
        """,
    )

    reply = await PythonModel(ref=f"{module}:shout").complete(ask({}, prompt="hi"))

    assert reply.text == "HI"


async def test_python_model_async_function_is_awaited(
    write_module: Callable[..., str],
) -> None:
    """An async function is awaited on the event loop."""
    module = write_module(
        "pm_async",
        """
        async def reply(prompt: str) -> str:
            return "async " + prompt
        """,
    )

    reply = await PythonModel(ref=f"{module}:reply").complete(ask({}, prompt="hi"))

    assert reply.text == "async hi"


async def test_python_model_request_annotation_passes_the_request(
    write_module: Callable[..., str],
) -> None:
    """A first parameter annotated `Request` receives the whole request."""
    module = write_module(
        "pm_request",
        """
        from __future__ import annotations
        from evalspec.runtime.components.base import Completion, Request

        def answer(request: Request) -> Completion:
            return Completion(text=str(request.case["answer"]), model="mine")
        """,
    )

    reply = await PythonModel(ref=f"{module}:answer").complete(ask({"answer": 9}))

    assert reply == Completion(text="9", model="mine")


async def test_python_model_non_text_result_is_an_error(
    write_module: Callable[..., str],
) -> None:
    """Returning something other than str or Completion is a ComponentError."""
    module = write_module("pm_int", "def answer(prompt):\n    return 42\n")

    with pytest.raises(ComponentError, match="returned a int; return a str"):
        await PythonModel(ref=f"{module}:answer").complete(ask({}))


async def test_python_model_exception_is_wrapped_with_the_reference(
    write_module: Callable[..., str],
) -> None:
    """An exception in the function is a ComponentError naming the reference."""
    module = write_module(
        "pm_raise", "def answer(prompt):\n    raise KeyError('gone')\n"
    )

    with pytest.raises(ComponentError, match="pm_raise:answer` raised KeyError"):
        await PythonModel(ref=f"{module}:answer").complete(ask({}))


async def test_python_model_missing_module_is_reported_on_first_use() -> None:
    """The function is imported lazily; a missing module fails the first call."""
    model = PythonModel(ref="no_such_module_xyz:answer")

    with pytest.raises(ComponentError, match="no module named `no_such_module_xyz`"):
        await model.complete(ask({}))
