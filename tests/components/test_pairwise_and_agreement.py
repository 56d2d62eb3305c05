"""Pairwise judging between subjects, and agreement between several judges."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evalspec import Experiment

SPEC = textwrap.dedent("""\
    experiment duel { seed 3 }

    dataset sums {
      from "sums.jsonl"
      id id
    }

    model careful { use noisy_oracle  error_rate 0.0 }
    model sloppy { use noisy_oracle  error_rate 0.6 }
    model grader { use reference_grader }

    prompt ask "{{ question }}"

    generate {
      model [careful, sloppy]
      prompt ask
    }

    parse last_number
    score exact_match { expected answer }

    judge graded {
      model grader
      rubric "Is the answer right?"
      reference answer
    }

    judge strict {
      model grader
      rubric "Is the answer right?"
      scale pass_fail
      reference answer
    }

    judge preference {
      use pairwise
      model grader
      rubric "Which answer is right?"
      reference answer
    }
    """)


@pytest.fixture
def experiment(tmp_path: Path) -> Experiment:
    """Return a two-subject experiment with two rubric judges and a pairwise one."""
    lines = [
        f'{{"id": "c{n}", "question": "{n} + {n}", "answer": "{2 * n}"}}'
        for n in range(40)
    ]
    (tmp_path / "sums.jsonl").write_text("\n".join(lines) + "\n")
    spec = tmp_path / "duel.evalspec"
    spec.write_text(SPEC)
    return Experiment.from_config(spec, store="memory")


def test_pairwise_judge_scores_only_the_challenger(experiment: Experiment) -> None:
    """The pairwise judge reports the non-baseline subject's win rate."""
    result = experiment.run()

    rows = [m for m in result.metrics if m["metric"] == "preference"]
    assert [m["subject"] for m in rows] == ["sloppy/ask"]
    exact = {
        m["subject"]: m["mean"] for m in result.metrics if m["metric"] == "exact_match"
    }
    assert exact["careful/ask"] == 1.0
    # The sloppy subject never beats a correct baseline: it ties or loses.
    assert rows[0]["mean"] <= 0.5
    assert 0 < rows[0]["mean"] < 0.5
    assert rows[0]["n"] == 40


def test_pairwise_judge_asks_in_both_orders(experiment: Experiment) -> None:
    """Each comparison is asked with the responses swapped, both stored."""
    result = experiment.run()

    rows = [r for r in result.rows() if r["subject"] == "sloppy/ask"]
    judgment = rows[0]["judgments"]["preference"]
    first, second = judgment["orders"]
    assert judgment["baseline"] == "careful/ask"
    mine = rows[0]["reduced"]
    assert first["prompt"].index(mine) < first["prompt"].index("<response B>")
    assert second["prompt"].index("<response B>") < second["prompt"].rindex(mine)
    assert all(
        "preference" not in r["judgments"]
        for r in result.rows()
        if r["subject"] == "careful/ask"
    )


def test_rejudge_repeats_pairwise_comparisons(experiment: Experiment) -> None:
    """A rejudge runs the pairwise comparisons again without generating."""
    experiment.run()

    again = experiment.rejudge()

    assert again.stages["generate"]["executed"] == 0
    # Two rubric judges per subject and case, one comparison per case.
    assert again.stages["judge"]["executed"] == 40 * 2 * 2 + 40


def test_several_judges_report_their_agreement(experiment: Experiment) -> None:
    """Two judges on the same answers report agreement and Cohen's kappa."""
    result = experiment.run()

    by_subject = {row["subject"]: row for row in result.agreement}
    assert set(by_subject) == {"careful/ask", "sloppy/ask"}
    sloppy = by_subject["sloppy/ask"]
    assert sloppy["judges"] == ["graded", "strict"]
    assert sloppy["n"] == 40
    # Both judges read the same grader's verdicts, so they agree fully.
    assert sloppy["agreement"] == 1.0 and sloppy["kappa"] == 1.0
    assert "agreement" in result.summary()


def test_plan_counts_pairwise_comparisons(experiment: Experiment) -> None:
    """A plan counts each comparison as one judge item and two judge calls."""
    before = experiment.plan()
    experiment.run()
    after = experiment.plan()

    assert before.stages["judge"]["execute"] == 40 * 2 * 2 + 40
    assert before.calls["judge preference (reference_grader)"]["calls"] == 80
    assert after.stages["judge"]["execute"] == 0
    assert after.stages["judge"]["stored"] == 40 * 2 * 2 + 40
