"""A sample run result: two subjects, two metrics, twelve arithmetic cases.

The result has every kind of case a report must show: passes, wrong answers,
a parse error, a generation that timed out, and a question whose text tries
to inject markup and close a script element.
"""

from __future__ import annotations

from typing import Any

from evalspec.runtime.stats import paired_comparison, summarize

SUBJECTS = ("solver/ask", "solver/ask_cot")
METRICS = ("exact_match", "token_f1")
INJECTION = '<script>alert("pwned")</script> and </script><b>'
# Per subject: cases answered wrongly, the case its parser could not read,
# and the case whose generation timed out.
WRONG = {"solver/ask": {"c03", "c07", "c11"}, "solver/ask_cot": {"c07"}}
UNPARSED = {"solver/ask": "c05", "solver/ask_cot": None}
TIMED_OUT = {"solver/ask": None, "solver/ask_cot": "c09"}


def _question(i: int) -> str:
    if i == 4:
        return f"What is {i} + {i + 3}? {INJECTION}"

    return f"What is {i} + {i + 3}?"


def _row(subject: str, i: int) -> dict[str, Any]:
    case_id, answer = f"c{i:02d}", str(2 * i + 3)
    prompt = f"Answer with the number only.\nQuestion: {_question(i)}\n"
    row: dict[str, Any] = {
        "case_id": case_id,
        "subject": subject,
        "inputs": {"question": _question(i), "answer": answer},
        "prompt": prompt,
        "candidates": [],
        "reduced": None,
        "parsed": None,
        "parse_error": None,
        "scores": {},
        "judgments": {},
        "errors": [],
    }
    if case_id == TIMED_OUT[subject]:
        message = "request timed out after 30 s (3 attempts)"
        row["errors"] = [
            {"stage": "generate", "category": "timeout", "message": message}
        ]
        return row

    wrong = case_id in WRONG[subject]
    reply = str(int(answer) + 1) if wrong else answer
    if case_id == UNPARSED[subject]:
        reply = "I would rather not say."
    row["candidates"] = [reply, reply, answer]
    row["reduced"] = reply
    if case_id == UNPARSED[subject]:
        row["parse_error"] = "no number in the text"
        row["scores"] = {"exact_match": 0.0, "token_f1": 0.0}
    else:
        row["parsed"] = int(reply)
        row["scores"] = {
            "exact_match": float(not wrong),
            "token_f1": 0.5 if wrong else 1.0,
        }
    verdict = "incorrect" if wrong or row["parse_error"] else "correct"
    aside = INJECTION if i == 4 else ""
    row["judgments"] = {
        "correctness": {
            "score": 1 if verdict == "incorrect" else 5,
            "verdict": verdict,
            "reasoning": f"Case {case_id} of {subject}: the reply {reply!r} is "
            f"{verdict}; the expected answer is {answer}. {aside}",
            "prompt": f"Is the answer right?\n{prompt}\nReply: {reply}",
            "raw": f'{{"score": {1 if verdict == "incorrect" else 5}}}',
            "error": None,
        }
    }

    return row


def make_result() -> dict[str, Any]:
    """Return the sample result, its summaries computed by the runtime's stats."""
    rows = [_row(subject, i) for subject in SUBJECTS for i in range(1, 13)]
    scores = {
        (s, m): {
            r["case_id"]: r["scores"][m]
            for r in rows
            if r["subject"] == s and m in r["scores"]
        }
        for s in SUBJECTS
        for m in METRICS
    }
    metrics = [
        {"subject": s, "metric": m, **summarize(list(scores[s, m].values())).to_json()}
        for m in METRICS
        for s in SUBJECTS
    ]
    comparisons = [
        {
            "metric": m,
            "baseline": SUBJECTS[0],
            "subject": SUBJECTS[1],
            **paired_comparison(
                scores[SUBJECTS[0], m], scores[SUBJECTS[1], m]
            ).to_json(),
        }
        for m in METRICS
    ]
    stage_counts = {"executed": 22, "reused": 1, "failed": 0}

    return {
        "run_id": "9f3c2a7be41d",
        "experiment": "arithmetic",
        "status": "partial",
        "stages": {
            "generate": {"executed": 23, "reused": 0, "failed": 1},
            "reduce": stage_counts,
            "parse": {"executed": 22, "reused": 0, "failed": 1},
            "score": stage_counts,
            "judge": stage_counts,
        },
        "metrics": metrics,
        "comparisons": comparisons,
        "rows": rows,
    }
