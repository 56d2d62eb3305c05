"""Sentence BLEU and ROUGE-L, written to agree with sacrebleu and rouge-score.

`sentence_bleu` reproduces ``sacrebleu.sentence_bleu(hyp, refs).score / 100``
with its defaults: the 13a tokenizer, exponential smoothing and effective
n-gram order. `rouge_l` reproduces the ROUGE-L F-measure of
``rouge_score.rouge_scorer.RougeScorer(["rougeL"])``: its default tokenizer,
no stemming. Both are pure Python so that the metrics need neither package.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["rouge_l", "sentence_bleu", "tokenize_13a", "tokenize_rouge"]

MAX_ORDER = 4

# The 13a tokenizer of mteval-v13a.pl (WMT's reference BLEU script): split off
# ASCII symbols, then periods and commas except inside numbers, then dashes
# after digits.
_13A_STEPS = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)
_HTML_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
_ROUGE_SEPARATORS_RE = re.compile(r"[^a-z0-9]+")


def tokenize_13a(text: str) -> list[str]:
    """Return the tokens of `text` under BLEU's 13a tokenizer."""
    line = text.rstrip().replace("<skipped>", "").replace("-\n", "")
    line = line.replace("\n", " ")
    for entity, char in _HTML_ENTITIES:
        line = line.replace(entity, char)
    line = f" {line} "
    for pattern, replacement in _13A_STEPS:
        line = pattern.sub(replacement, line)

    return line.split()


def _ngrams(tokens: Sequence[str]) -> Counter[tuple[str, ...]]:
    """Return the counts of every n-gram of `tokens`, for n from 1 to 4."""
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, MAX_ORDER + 1):
        for start in range(len(tokens) - n + 1):
            counts[tuple(tokens[start : start + n])] += 1

    return counts


def _closest_length(length: int, references: Sequence[int]) -> int:
    """Return the reference length closest to `length`, the shorter on a tie."""
    return min(references, key=lambda ref: (abs(length - ref), ref))


def sentence_bleu(hypothesis: str, references: Sequence[str]) -> float:
    """Return the sentence BLEU of `hypothesis` against `references`, in [0, 1].

    Reference n-gram counts are merged by maximum, and the brevity penalty
    uses the reference length closest to the hypothesis length.
    """
    hyp_tokens = tokenize_13a(hypothesis)
    ref_tokens = [tokenize_13a(ref) for ref in references]
    ref_counts: Counter[tuple[str, ...]] = Counter()
    for tokens in ref_tokens:
        ref_counts |= _ngrams(tokens)

    correct = [0] * MAX_ORDER
    total = [0] * MAX_ORDER
    for gram, count in _ngrams(hyp_tokens).items():
        total[len(gram) - 1] += count
        correct[len(gram) - 1] += min(count, ref_counts[gram])
    if not any(correct):
        return 0.0

    ref_length = _closest_length(len(hyp_tokens), [len(t) for t in ref_tokens])
    penalty = _brevity_penalty(len(hyp_tokens), ref_length)

    return penalty * _smoothed_geometric_mean(correct, total)


def _brevity_penalty(hyp_length: int, ref_length: int) -> float:
    if hyp_length >= ref_length:
        return 1.0

    return math.exp(1 - ref_length / hyp_length) if hyp_length > 0 else 0.0


def _smoothed_geometric_mean(correct: Sequence[int], total: Sequence[int]) -> float:
    """Return the geometric mean of the n-gram precisions, smoothed as NIST does.

    Orders the hypothesis is too short to have are left out (effective
    order); each order without a match counts as 1 / (2^k * total), the k-th
    such order doubling the divisor.
    """
    logs: list[float] = []
    divisor = 1.0
    for matched, count in zip(correct, total, strict=True):
        if count == 0:
            break
        if matched == 0:
            divisor *= 2
            logs.append(math.log(1 / (divisor * count)))
        else:
            logs.append(math.log(matched / count))

    return math.exp(sum(logs) / len(logs))


def tokenize_rouge(text: str) -> list[str]:
    """Return the tokens of `text` as rouge-score's default tokenizer makes them.

    Lowercase, then every run of characters other than ASCII letters and
    digits separates tokens.
    """
    return [t for t in _ROUGE_SEPARATORS_RE.split(text.lower()) if t]


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Return the length of the longest common subsequence of two token lists."""
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second, start=1):
            if token == other:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current

    return previous[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """Return the ROUGE-L F-measure of `hypothesis` against `reference`."""
    hyp_tokens = tokenize_rouge(hypothesis)
    ref_tokens = tokenize_rouge(reference)
    if not hyp_tokens or not ref_tokens:
        return 0.0

    common = _lcs_length(ref_tokens, hyp_tokens)
    if common == 0:
        return 0.0
    precision = common / len(hyp_tokens)
    recall = common / len(ref_tokens)

    return 2 * precision * recall / (precision + recall)
