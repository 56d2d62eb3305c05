"""The builtin metrics: scores a user would expect for familiar answers.

BLEU and ROUGE-L are checked against sacrebleu and rouge-score on a shared
set of sentence pairs; those tests are skipped when the packages are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from evalspec.errors import ComponentError
from evalspec.runtime.components.base import ScoreInput
from evalspec.runtime.components.metrics import (
    Bleu,
    ChoiceAccuracy,
    Contains,
    ExactMatch,
    JsonFieldMatch,
    NumericMatch,
    PassAtK,
    PythonMetric,
    RegexMatch,
    RougeL,
    SquadExactMatch,
    SquadF1,
)

# Hypothesis, reference: sentence pairs covering tokenization edge cases
# (punctuation, numbers, entities, case, unicode, empty and repeated text).
PAIRS = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("the cat sat on the mat", "The cat sat on the mat."),
    (
        "A quick brown fox jumps over the lazy dog.",
        "The quick brown fox jumped over a lazy dog.",
    ),
    ("It costs $1,234.50 -- really?", "It costs 1,234.50 dollars, really."),
    ("Hello &amp; goodbye", "Hello & goodbye"),
    ("3-4 days", "3 - 4 days"),
    ("the the the the", "the cat"),
    ("Completely different words", "nothing alike here at all"),
    ("multi\nline text here .", "multi line text here."),
    ("Café naïve résumé", "cafe naive resume"),
    ("", "an empty hypothesis"),
    ("an empty reference", ""),
    ("word", "word"),
    ("a b", "a b c d e f g"),
    ("a b c d e f g h i j", "a b c"),
    ("Paris is the capital of France.", "The capital of France is Paris."),
    ("I think, therefore I am.", "I think therefore I am"),
    ("Numbers: 3.14, 2.71 and 1.41.", "Numbers: 3.14, 2.71, and 1.41."),
    ("e-mail me at x@y.com!", "email me at x@y.com"),
    ("(parenthetical) remark [here]", "parenthetical remark here"),
    ("Don't stop believing", "Do not stop believing"),
    ("New York-based firm's 2023 results", "A New York based firm's results for 2023"),
    ("THE END", "the end"),
    ("one two three four five", "five four three two one"),
    ("one two three four five", "one two three four five six"),
    ("to be or not to be", "to be, or not to be: that is the question"),
    ("the model answered 42", "42"),
    ("Quote: &quot;yes&quot;", 'Quote: "yes"'),
    ("x < y > z", "x &lt; y &gt; z"),
    ("tab\tseparated\twords", "tab separated words"),
    ("trailing spaces   ", "trailing spaces"),
    ("The answer is 1,000,000.", "The answer is 1000000."),
    ("Ich bin ein Berliner.", "I am a Berliner."),
    ("数字 42 和 文字", "数字 42"),
    ("repeat repeat repeat repeat repeat", "repeat"),
]


def scored(parsed: Any, parse_error: str | None = None, **case: Any) -> ScoreInput:
    return ScoreInput(
        parsed=parsed, reduced=parsed, candidates=[], case=case, parse_error=parse_error
    )


def test_exact_match_equal_text_scores_one() -> None:
    """Identical texts match; the metric's name is its id."""
    metric = ExactMatch(expected="answer")

    assert metric.score(scored("Paris", answer="Paris")) == 1.0
    assert metric.name == "exact_match"


def test_exact_match_is_strict_by_default() -> None:
    """Case, whitespace and punctuation differences fail without options."""
    metric = ExactMatch(expected="answer")

    for answer in ["paris", " Paris", "Paris."]:
        assert metric.score(scored(answer, answer="Paris")) == 0.0


def test_exact_match_numbers_compare_in_canonical_form() -> None:
    """A number in the data equals its parsed canonical text."""
    metric = ExactMatch(expected="answer")

    assert metric.score(scored("42", answer=42.0)) == 1.0
    assert metric.score(scored("42", answer=42)) == 1.0


@pytest.mark.parametrize(
    ("options", "answer", "expected"),
    [
        ({"ignore_case": True}, "PARIS", "paris"),
        ({"ignore_whitespace": True}, "New  York ", "NewYork"),
        ({"ignore_punctuation": True}, "Paris!", "Paris"),
        ({"ignore_articles": True}, "the cat", "cat"),
        ({"ignore_articles": True, "ignore_case": True}, "The Cat", "a cat"),
    ],
)
def test_exact_match_options_relax_the_comparison(
    options: dict[str, bool], answer: str, expected: str
) -> None:
    """Each `ignore_*` option forgives one kind of difference."""
    metric = ExactMatch(expected="answer", **options)

    assert metric.score(scored(answer, answer=expected)) == 1.0


def test_metrics_score_a_parse_failure_zero() -> None:
    """A failed parse scores 0.0 even when the text would match."""
    metric = ExactMatch(expected="answer")

    assert metric.score(scored("42", parse_error="no number", answer="42")) == 0.0


def test_metrics_read_the_first_of_kept_candidates() -> None:
    """After keep_all a single-answer metric scores the first parsed value."""
    metric = ExactMatch(expected="answer")

    assert metric.score(scored(["4", "5"], answer="4")) == 1.0
    assert metric.score(scored([None, "4"], answer="4")) == 0.0


def test_metrics_accept_any_reference_in_a_list() -> None:
    """A list in the expected field holds several acceptable answers."""
    metric = ExactMatch(expected="answers")

    assert metric.score(scored("NYC", answers=["New York", "NYC"])) == 1.0


def test_metrics_missing_expected_field_names_it() -> None:
    """A case without the expected field is an error naming the field."""
    with pytest.raises(ComponentError, match="no field `expected`.*`answer`"):
        ExactMatch().score(scored("4", answer="4"))


def test_contains_finds_the_reference_inside_the_answer() -> None:
    """The expected text may appear anywhere in the answer."""
    metric = Contains(expected="answer", ignore_case=True)

    assert metric.score(scored("I believe it is PARIS.", answer="Paris")) == 1.0
    assert metric.score(scored("Lyon", answer="Paris")) == 0.0


def test_regex_match_fixed_pattern_and_full_match() -> None:
    """A fixed pattern matches anywhere, or the whole answer with `full`."""
    anywhere = RegexMatch(pattern=r"yes|no", ignore_case=True)
    whole = RegexMatch(pattern=r"yes|no", full=True)

    assert anywhere.score(scored("YES, certainly")) == 1.0
    assert whole.score(scored("yes, certainly")) == 0.0
    assert whole.score(scored("no")) == 1.0


def test_regex_match_pattern_from_the_case() -> None:
    """Without `pattern` each case's expected field holds its own pattern."""
    metric = RegexMatch(expected="pattern")

    assert metric.score(scored("2024-05-01", pattern=r"\d{4}-\d{2}-\d{2}")) == 1.0


def test_numeric_match_tolerances() -> None:
    """Numbers match within the absolute or relative tolerance."""
    exact = NumericMatch(expected="answer")
    loose = NumericMatch(expected="answer", abs_tol=0.01)
    relative = NumericMatch(expected="answer", rel_tol=0.05)

    assert exact.score(scored("1,234.0", answer=1234)) == 1.0
    assert exact.score(scored("3.14", answer="3.1416")) == 0.0
    assert loose.score(scored("3.14", answer=3.1416)) == 1.0
    assert relative.score(scored("104", answer=100)) == 1.0
    assert relative.score(scored("106", answer=100)) == 0.0


def test_numeric_match_non_number_answer_scores_zero() -> None:
    """An answer that is not a number is simply wrong."""
    assert NumericMatch(expected="answer").score(scored("ten", answer=10)) == 0.0


def test_numeric_match_non_number_reference_is_an_error() -> None:
    """A reference that is not a number is bad data, reported as such."""
    with pytest.raises(ComponentError, match="holds 'ten', which is not a number"):
        NumericMatch(expected="answer").score(scored("10", answer="ten"))


def test_squad_exact_match_normalises_case_punctuation_articles() -> None:
    """SQuAD normalisation makes these equal."""
    metric = SquadExactMatch(expected="answers")

    assert metric.score(scored("The  Eiffel Tower!", answers=["eiffel tower"])) == 1.0
    assert metric.score(scored("Eiffel", answers=["eiffel tower"])) == 0.0


def test_squad_f1_gives_partial_credit_and_takes_the_best_reference() -> None:
    """F1 of shared tokens, best over references."""
    metric = SquadF1(expected="answers")
    item = scored("the Eiffel Tower in Paris", answers=["Eiffel Tower", "Louvre"])

    # 2 shared tokens: precision 2/4, recall 2/2.
    assert metric.score(item) == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_squad_f1_empty_after_normalisation() -> None:
    """Two answers that normalise to nothing agree; one empty one does not."""
    metric = SquadF1(expected="answer")

    assert metric.score(scored("The.", answer="a")) == 1.0
    assert metric.score(scored("the", answer="cat")) == 0.0


@pytest.mark.parametrize(
    ("answers", "k", "expected"),
    [
        (["4", "5", "4", "6", "7"], 1, 0.4),
        (["4", "5", "4", "6", "7"], 2, 0.7),
        (["4", "5", "4", "6", "7"], 4, 1.0),
        (["5", "5", "5"], 3, 0.0),
        (["4", None, "4.0"], 1, 2 / 3),
    ],
)
def test_pass_at_k_unbiased_estimate(
    answers: list[str | None], k: int, expected: float
) -> None:
    """pass@k = 1 - C(n-c, k) / C(n, k); unparsed candidates are wrong."""
    metric = PassAtK(k=k, expected="answer")

    assert metric.score(scored(answers, answer=4)) == pytest.approx(expected)


def test_pass_at_k_with_fewer_candidates_than_k_is_an_error() -> None:
    """k larger than the number of samples is a configuration mistake."""
    with pytest.raises(ComponentError, match="k=5 needs at least 5 candidates, got 2"):
        PassAtK(k=5, expected="answer").score(scored(["1", "2"], answer=1))


def test_choice_accuracy_reads_letters_and_indexes() -> None:
    """The expected option may be a letter in any dress or a 0-based index."""
    metric = ChoiceAccuracy(expected="answer", letters="ABCD")

    assert metric.score(scored("C", answer="(c)")) == 1.0
    assert metric.score(scored("C", answer=2)) == 1.0
    assert metric.score(scored("B", answer=2)) == 0.0


def test_choice_accuracy_unknown_expected_option_is_an_error() -> None:
    """An expected value naming no option is reported."""
    with pytest.raises(ComponentError, match="names none of the options ABCD"):
        ChoiceAccuracy(expected="answer", letters="ABCD").score(scored("A", answer=7))


def test_json_field_match_compares_a_nested_field() -> None:
    """The field's value equals the expected one, as JSON or as text."""
    metric = JsonFieldMatch(field="result.total", expected="answer")

    assert metric.score(scored({"result": {"total": 42}}, answer="42")) == 1.0
    assert metric.score(scored('{"result": {"total": 41}}', answer=42)) == 0.0
    assert metric.score(scored({"result": {}}, answer=42)) == 0.0


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS)
def test_bleu_matches_sacrebleu_sentence_bleu(hypothesis: str, reference: str) -> None:
    """bleu equals sacrebleu.sentence_bleu(...).score / 100 to 1e-6."""
    sacrebleu = pytest.importorskip("sacrebleu")
    expected = sacrebleu.sentence_bleu(hypothesis, [reference]).score / 100

    score = Bleu(expected="reference").score(scored(hypothesis, reference=reference))

    assert score == pytest.approx(expected, abs=1e-6)


def test_bleu_with_several_references_matches_sacrebleu() -> None:
    """A list of references is used together, as sacrebleu does."""
    sacrebleu = pytest.importorskip("sacrebleu")
    metric = Bleu(expected="refs")
    for hypothesis, reference in PAIRS:
        refs = [reference, "the cat sat on a mat", hypothesis[::-1] or "x"]
        expected = sacrebleu.sentence_bleu(hypothesis, refs).score / 100

        assert metric.score(scored(hypothesis, refs=refs)) == pytest.approx(
            expected, abs=1e-6
        )


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS)
def test_rouge_l_matches_rouge_score(hypothesis: str, reference: str) -> None:
    """rouge_l equals rouge-score's ROUGE-L F-measure to 1e-6."""
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = scorer.score(reference, hypothesis)["rougeL"].fmeasure

    score = RougeL(expected="reference").score(scored(hypothesis, reference=reference))

    assert score == pytest.approx(expected, abs=1e-6)


def test_bleu_and_rouge_identical_text_scores_one() -> None:
    """An answer identical to its reference gets the full score."""
    item = scored("the quick brown fox jumps", reference="the quick brown fox jumps")

    assert Bleu(expected="reference").score(item) == pytest.approx(1.0)
    assert RougeL(expected="reference").score(item) == pytest.approx(1.0)


def test_python_metric_two_argument_form(
    write_module: Callable[[str, str], str],
) -> None:
    """(parsed, case) functions score; a bool counts as 1.0 or 0.0."""
    module = write_module(
        "pm_metric",
        """
        def close(parsed, case):
            return abs(float(parsed) - case["answer"]) < 1
        """,
    )
    metric = PythonMetric(ref=f"{module}:close")

    assert metric.score(scored("4.5", answer=4)) == 1.0
    assert metric.score(scored("9", answer=4)) == 0.0
    assert metric.score(scored(None, parse_error="none", answer=4)) == 0.0
    assert metric.name == "close"


def test_python_metric_score_input_form_sees_parse_errors(
    write_module: Callable[[str, str], str],
) -> None:
    """A `ScoreInput` annotation passes the whole item, parse error included."""
    module = write_module(
        "pm_metric_item",
        """
        from evalspec.runtime.components.base import ScoreInput

        def lenient(item: ScoreInput) -> float:
            return 0.5 if item.parse_error else 1.0
        """,
    )
    metric = PythonMetric(ref=f"{module}:lenient", name="lenient_score")

    assert metric.score(scored(None, parse_error="none")) == 0.5
    assert metric.name == "lenient_score"


def test_python_metric_non_number_result_is_an_error(
    write_module: Callable[[str, str], str],
) -> None:
    """A function returning text is a ComponentError."""
    module = write_module("pm_metric_bad", "def bad(parsed, case):\n    return 'yes'\n")

    with pytest.raises(ComponentError, match="returned a str; return a float"):
        PythonMetric(ref=f"{module}:bad").score(scored("x"))
