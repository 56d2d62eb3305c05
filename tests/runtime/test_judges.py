"""The rubric judge: the prompt it renders and how it reads a verdict."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalspec.errors import ComponentError
from evalspec.runtime.components.base import JudgeInput, Message, Request
from evalspec.runtime.components.judges import RubricJudge, render_template
from evalspec.runtime.components.models import ReferenceGrader

CASE = {"id": "c1", "question": "What is 6 * 7?", "answer": 42}


def judged(response: str = "The answer is 42.", prompt: str = "") -> JudgeInput:
    return JudgeInput(response=response, parsed="42", case=CASE, prompt=prompt)


def test_rubric_prompt_holds_rubric_task_response_and_instructions() -> None:
    """The default prompt shows everything the judge needs, in tagged sections."""
    judge = RubricJudge(rubric="Is the arithmetic right?")

    prompt = judge.render(judged())

    assert "<rubric>\nIs the arithmetic right?\n</rubric>" in prompt
    assert "<task>\nquestion: What is 6 * 7?\nanswer: 42\n</task>" in prompt
    assert "<response>\nThe answer is 42.\n</response>" in prompt
    assert "`Score: N`, where N is an integer from 1 (worst) to 5 (best)" in prompt
    assert "<reference>" not in prompt


def test_rubric_prompt_with_reference_hides_it_from_the_task() -> None:
    """A reference field is shown as the reference, not among the task fields."""
    prompt = RubricJudge(rubric="Correct?", reference="answer").render(judged())

    assert "<task>\nquestion: What is 6 * 7?\n</task>" in prompt
    assert "<reference>\n42\n</reference>" in prompt


def test_rubric_prompt_uses_the_subject_prompt_as_the_task() -> None:
    """When the subject's prompt is known it describes the task."""
    prompt = RubricJudge(rubric="Correct?").render(judged(prompt="Compute 6 * 7."))

    assert "<task>\nCompute 6 * 7.\n</task>" in prompt


def test_rubric_prompt_fields_choose_the_task_fields() -> None:
    """`fields` lists exactly the case fields shown as the task."""
    judge = RubricJudge(rubric="Correct?", fields=["question"])

    prompt = judge.render(judged(prompt="ignored"))

    assert "<task>\nquestion: What is 6 * 7?\n</task>" in prompt


def test_rubric_pass_fail_prompt_asks_for_a_verdict() -> None:
    """A pass/fail scale asks for a PASS or FAIL line."""
    prompt = RubricJudge(rubric="Correct?", scale="pass_fail").render(judged())

    assert "`Verdict: PASS` or `Verdict: FAIL`" in prompt


def test_rubric_template_replaces_the_prompt() -> None:
    """A custom template is filled from the item, the case and the rubric."""
    judge = RubricJudge(
        rubric="Be strict.",
        reference="answer",
        template=(
            "{{ rubric }} Q: {{ case.question }} A: {{response}} R: {{ reference }}"
        ),
    )

    prompt = judge.render(judged("42"))

    assert prompt == "Be strict. Q: What is 6 * 7? A: 42 R: 42"


def test_render_template_unknown_placeholder_lists_known_ones() -> None:
    """A misspelled placeholder is a ComponentError naming the known names."""
    with pytest.raises(ComponentError, match="unknown placeholder .*known: response"):
        render_template("{{ respnse }}", {"response": "x", "case": {}})


@pytest.mark.parametrize(
    ("raw", "verdict", "score"),
    [
        ("Looks right.\nScore: 5", 5, 1.0),
        ("Reasoning: partly.\nScore: 3", 3, 0.5),
        ("**Score:** 2/5", 2, 0.25),
        ("Score: 1 out of 5.", 1, 0.0),
        ("Score: 2\nOn reflection...\nFinal score: 4", 4, 0.75),
        ("- rating = 4", 4, 0.75),
    ],
)
def test_rubric_read_takes_the_last_score_line(
    raw: str, verdict: int, score: float
) -> None:
    """The last score line is the verdict, normalised to [0, 1]."""
    got_verdict, got_score, _, error = RubricJudge(rubric="r").read(raw)

    assert (got_verdict, got_score, error) == (verdict, score, None)


def test_rubric_read_returns_the_reasoning_before_the_verdict() -> None:
    """Everything before the verdict line is the reasoning, label removed."""
    raw = "Reasoning: the response states 42.\nIt matches.\nScore: 5\n"

    _, _, reasoning, _ = RubricJudge(rubric="r").read(raw)

    assert reasoning == "the response states 42.\nIt matches."


def test_rubric_read_custom_scale_normalises() -> None:
    """A 0-to-10 scale maps 7 to 0.7."""
    assert RubricJudge(rubric="r", scale=[0, 10]).read("Score: 7")[:2] == (7, 0.7)


@pytest.mark.parametrize(
    ("raw", "verdict", "score"),
    [("Verdict: PASS", "pass", 1.0), ("verdict: failed.", "fail", 0.0)],
)
def test_rubric_read_pass_fail(raw: str, verdict: str, score: float) -> None:
    """PASS reads as 1.0 and FAIL as 0.0."""
    judge = RubricJudge(rubric="r", scale="pass_fail")

    assert judge.read(raw)[:2] == (verdict, score)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("I think it is fine.", "no verdict line"),
        ("Score: 9", "score 9 is off the scale"),
        ("Score: 4.5", "unreadable score '4.5'"),
        ("Score: excellent", "unreadable score 'excellent'"),
    ],
)
def test_rubric_read_unreadable_verdict_is_an_error_not_an_exception(
    raw: str, message: str
) -> None:
    """An unusable reply gives no verdict, no score and a reason."""
    verdict, score, _, error = RubricJudge(rubric="r").read(raw)

    assert verdict is None and score is None
    assert error is not None and message in error
    assert "expected `Score: N` with N an integer from 1 to 5" in error


def test_rubric_read_pass_fail_rejects_a_number() -> None:
    """A pass/fail judge does not accept a numeric score."""
    _, score, _, error = RubricJudge(rubric="r", scale="pass_fail").read("Score: 5")

    assert score is None
    assert error is not None and "`Verdict: PASS` or `Verdict: FAIL`" in error


@given(st.text())
def test_rubric_read_never_raises(raw: str) -> None:
    """Any reply at all is read without an exception, and scores stay in [0, 1]."""
    for judge in (RubricJudge(rubric="r"), RubricJudge(rubric="r", scale="pass_fail")):
        verdict, score, _, error = judge.read(raw)

        assert (score is None) == (error is not None)
        assert score is None or 0.0 <= score <= 1.0


def test_rubric_scale_must_be_increasing() -> None:
    """A scale whose low end is not below its high end is rejected."""
    with pytest.raises(ComponentError, match="lowest score 5 must be below 1"):
        RubricJudge(rubric="r", scale=[5, 1])


def test_rubric_scale_is_recorded_as_a_list() -> None:
    """The scale is part of the judge's identity in JSON form."""
    assert RubricJudge(rubric="r", scale=(0, 3)).describe()["params"]["scale"] == [0, 3]


def test_rubric_request_extra_carries_scale_response_and_reference() -> None:
    """The judge model can read the scale and, given an item, what to grade."""
    judge = RubricJudge(rubric="r", scale=[0, 10], reference="answer")

    assert judge.request_extra() == {
        "scale_min": 0,
        "scale_max": 10,
        "pass_fail": False,
    }
    extra: dict[str, Any] = judge.request_extra(judged("It is 41."))
    assert extra["response"] == "It is 41." and extra["reference"] == 42


@pytest.mark.parametrize("scale", [(1, 5), (0, 10), "pass_fail"])
def test_rubric_reads_what_reference_grader_replies(scale: Any) -> None:
    """The offline grader's replies are read as top and bottom of every scale."""
    judge = RubricJudge(rubric="r", scale=scale, reference="answer")

    async def verdict(response: str) -> Any:
        item = judged(response)
        request = Request(
            messages=(Message("user", judge.render(item)),),
            extra=judge.request_extra(item),
        )
        completion = await ReferenceGrader().complete(request)
        return judge.read(completion.text)

    right = anyio.run(verdict, "So, 42.")
    wrong = anyio.run(verdict, "So, 41.")

    assert right[1] == 1.0 and wrong[1] == 0.0
    assert right[2] == "the response states 42, the reference is 42."
