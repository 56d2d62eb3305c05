"""The builtin reducers: how a case's candidates become its answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from evalspec.errors import ComponentError, ParseFailure
from evalspec.runtime.components.base import ReduceInput
from evalspec.runtime.components.parsers import ChoiceLetter, LastNumber
from evalspec.runtime.components.reducers import (
    BestOfN,
    First,
    KeepAll,
    MajorityVote,
    Mean,
    PythonReducer,
)

NUMBER = LastNumber().parse


def given(
    candidates: Sequence[str],
    parse: Callable[[str], Any] | None = NUMBER,
    **case: Any,
) -> ReduceInput:
    return ReduceInput(candidates=list(candidates), case=case, parse=parse)


def test_majority_vote_counts_parsed_answers_not_wordings() -> None:
    """Differently worded candidates with the same parsed answer agree."""
    item = given(["It is 41.", "I get 42.", "42", "Answer: 42.0"])

    assert MajorityVote().reduce(item) == "I get 42."


def test_majority_vote_tie_goes_to_the_earliest_answer() -> None:
    """On a tie the answer whose first occurrence is earliest wins."""
    item = given(["7", "8", "8", "7"])

    assert MajorityVote().reduce(item) == "7"


def test_majority_vote_unparseable_candidates_abstain() -> None:
    """Candidates without an answer do not outvote those with one."""
    item = given(["no idea", "no idea", "no idea", "maybe 5"])

    assert MajorityVote().reduce(item) == "maybe 5"


def test_majority_vote_falls_back_to_text_when_nothing_parses() -> None:
    """When no candidate parses, stripped texts vote."""
    item = given([" pass", "fail", "pass "])

    assert MajorityVote().reduce(item) == " pass"


def test_majority_vote_by_text_ignores_the_parser() -> None:
    """`by text` votes over stripped texts even when a parser is given."""
    item = given(["42", "It is 42", "It is 42 "])

    assert MajorityVote(by="text").reduce(item) == "It is 42"


def test_majority_vote_without_parser_votes_over_text() -> None:
    """A run without a parser votes over stripped texts."""
    item = given(["B", "A", "B"], parse=None)

    assert MajorityVote().reduce(item) == "B"


def test_majority_vote_with_choice_letters() -> None:
    """Letters read by choice_letter vote regardless of how they were written."""
    item = given(["(b)", "The answer is A", "B."], parse=ChoiceLetter().parse)

    assert MajorityVote().reduce(item) == "(b)"


def test_reducers_without_candidates_are_an_error() -> None:
    """Reducing nothing is a ComponentError naming the reducer."""
    with pytest.raises(ComponentError, match="`first` received no candidates"):
        First().reduce(given([]))


def test_first_returns_the_first_candidate() -> None:
    """first ignores every candidate but the first."""
    assert First().reduce(given(["a", "b"])) == "a"


def test_mean_averages_parsed_numbers_in_canonical_form() -> None:
    """The mean is written so a number parser reads it back unchanged."""
    assert Mean().reduce(given(["1", "about 2", "no idea", "3.0"])) == "2"
    assert Mean().reduce(given(["1", "2"])) == "1.5"


def test_mean_without_parser_reads_last_numbers() -> None:
    """Without a parser each candidate's last number counts."""
    assert Mean().reduce(given(["1,000 then 10", "30"], parse=None)) == "20"


def test_mean_without_any_number_is_a_parse_failure() -> None:
    """No numeric answer at all fails the case as unparseable."""
    with pytest.raises(ParseFailure, match="none of the 2 candidates"):
        Mean().reduce(given(["no", "idea"]))


def test_keep_all_returns_every_candidate_in_order() -> None:
    """keep_all hands the whole list to the parse stage."""
    assert KeepAll().reduce(given(["a", "b", "c"])) == ["a", "b", "c"]


def test_best_of_n_picks_the_best_scoring_candidate() -> None:
    """The candidate matching the expected answer wins."""
    reducer = BestOfN(metric="exact_match", expected="answer")

    assert reducer.reduce(given(["it is 3", "it is 4", "4!"], answer="4")) == "it is 4"


def test_best_of_n_tie_goes_to_the_earliest_candidate() -> None:
    """When no candidate is better, the first one is kept."""
    reducer = BestOfN(metric="exact_match", expected="answer")

    assert reducer.reduce(given(["1", "2"], answer="9")) == "1"


def test_best_of_n_with_a_graded_metric() -> None:
    """A metric with partial credit ranks candidates by degree."""
    reducer = BestOfN(metric="squad_f1", expected="answer")
    item = given(["Paris", "Paris France", "Lyon"], parse=None, answer="Paris, France")

    assert reducer.reduce(item) == "Paris France"


def test_best_of_n_unknown_metric_is_rejected_with_a_suggestion() -> None:
    """A misspelled metric id is an invalid parameter with the close id."""
    with pytest.raises(ComponentError, match="did you mean `exact_match`"):
        BestOfN(metric="exact_mach")


def test_python_reducer_receives_texts_or_the_whole_input(
    write_module: Callable[[str, str], str],
) -> None:
    """A plain function gets the texts; a `ReduceInput` annotation gets everything."""
    module = write_module(
        "pr_reduce",
        """
        from evalspec.runtime.components.base import ReduceInput

        def longest(candidates):
            return max(candidates, key=len)

        def labelled(item: ReduceInput):
            return item.case["label"] + ":" + item.candidates[0]
        """,
    )
    item = given(["a", "ccc", "bb"], label="x")

    assert PythonReducer(ref=f"{module}:longest").reduce(item) == "ccc"
    assert PythonReducer(ref=f"{module}:labelled").reduce(item) == "x:a"
