"""Named features of the opinion head: an expression paired with a brand reference, and with an aspect.

Training (training/opinion_data.py) and analysis (opinions.py) build them here and nowhere else, so
the head reads at analysis what it was trained on.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from brandscan.engine.stages.sentiment.layout import TokenLayout

# Reference kinds the head tells apart (report.MentionKind, plus first person, which linking reports
# as a pronoun with person 1).
REFERENCE_KINDS: tuple[str, ...] = ("explicit", "alias", "product", "handle", "pronoun", "nominal")

PAIR_FEATURES: tuple[str, ...] = (
    "same_sentence", "previous_sentence", "two_sentences_back", "same_clause", "before", "after",
    "inside", "gap", "log_gap", "between", "nearest", "second", "first_in_sentence",
    *(f"kind_{k}" for k in REFERENCE_KINDS),
)
PairFeature = IntEnum("PairFeature", {name.upper(): i for i, name in enumerate(PAIR_FEATURES)})  # type: ignore[misc]

ASPECT_FEATURES: tuple[str, ...] = ("term_in_expression", "term_in_clause", "term_in_sentence", "term_near",
                                    "term_in_previous_sentence")
AspectFeature = IntEnum("AspectFeature", {name.upper(): i for i, name in enumerate(ASPECT_FEATURES)})  # type: ignore[misc]

GAP_SCALE = 32.0  # word pieces: a gap of this many counts 1.0 (capped at 4)
NEAR_SCALE = 8.0  # word pieces: an aspect term this far from the expression scores exp(-1)


@dataclass(frozen=True)
class Reference:
    """A brand reference the opinion may judge: positions [first, last) in the encoder sequence."""

    first: int
    last: int
    brand: str
    kind: str  # one of REFERENCE_KINDS
    mention: str | None = None  # the report's mention id


@dataclass(frozen=True)
class TermHit:
    """An aspect term in the text: positions [first, last) and its aspect's index in the table."""

    first: int
    last: int
    aspect: int


def reference_sentences(layout: TokenLayout, references: Sequence[Reference]) -> np.ndarray:
    """(R,) int64 sentence of each reference; non-decreasing, as `references` are sorted by position."""
    return np.asarray([layout.sentence[r.first] for r in references], dtype=np.int64)


def candidates(layout: TokenLayout, expression: tuple[int, int], sentences: np.ndarray, window: int) -> list[int]:
    """Indexes of the references an expression may judge: those in its sentence (either side) and in
    the `window` sentences before it. `sentences` is reference_sentences(...): a bisection, so a
    document with many references costs no more per expression."""
    s = int(layout.sentence[expression[0]])
    lo = int(np.searchsorted(sentences, s - window, side="left"))
    hi = int(np.searchsorted(sentences, s, side="right"))
    return list(range(lo, hi))


def pair_features(layout: TokenLayout, expression: tuple[int, int], references: Sequence[Reference],
                  chosen: Sequence[int], sentences: np.ndarray) -> np.ndarray:
    """(len(chosen), len(PAIR_FEATURES)) float32: where each chosen reference sits from the expression.
    `chosen` are candidates(...) (consecutive indexes); `sentences` is reference_sentences(...)."""
    a, b = expression
    s, c = int(layout.sentence[a]), int(layout.clause[a])
    gaps = []
    for i in chosen:
        r = references[i]
        gaps.append(a - r.last if r.last <= a else r.first - b if r.first >= b else 0)
    order = sorted(range(len(chosen)), key=lambda k: (gaps[k], -references[chosen[k]].first))
    rank = {k: n for n, k in enumerate(order)}
    out = np.zeros((len(chosen), len(PAIR_FEATURES)), dtype=np.float32)
    for k, i in enumerate(chosen):
        r = references[i]
        rs = int(layout.sentence[r.first])
        row = out[k]
        row[PairFeature.SAME_SENTENCE] = rs == s
        row[PairFeature.PREVIOUS_SENTENCE] = rs == s - 1
        row[PairFeature.TWO_SENTENCES_BACK] = rs <= s - 2
        row[PairFeature.SAME_CLAUSE] = int(layout.clause[r.first]) == c
        row[PairFeature.BEFORE] = r.last <= a
        row[PairFeature.AFTER] = r.first >= b
        row[PairFeature.INSIDE] = r.first >= a and r.last <= b
        row[PairFeature.GAP] = min(gaps[k] / GAP_SCALE, 4.0)
        row[PairFeature.LOG_GAP] = math.log1p(gaps[k])
        lo, hi = (r.last, a) if r.last <= a else (b, r.first)
        # References between lie inside the candidates' span: the chosen ones are consecutive.
        row[PairFeature.BETWEEN] = min(sum(1 for j in chosen if references[j].first >= lo and references[j].last <= hi
                                           and references[j].brand != r.brand), 3) / 3.0
        row[PairFeature.NEAREST] = rank[k] == 0
        row[PairFeature.SECOND] = rank[k] == 1
        row[PairFeature.FIRST_IN_SENTENCE] = int(np.searchsorted(sentences, rs, side="left")) == i
        if r.kind in REFERENCE_KINDS:
            row[PairFeature[f"KIND_{r.kind.upper()}"]] = 1.0
    return out


def aspect_features(layout: TokenLayout, expression: tuple[int, int], hits: Sequence[TermHit],
                    n_aspects: int) -> np.ndarray:
    """(n_aspects, len(ASPECT_FEATURES)) float32: where each aspect's terms sit from the expression."""
    a, b = expression
    s, c = int(layout.sentence[a]), int(layout.clause[a])
    out = np.zeros((n_aspects, len(ASPECT_FEATURES)), dtype=np.float32)
    for h in hits:
        hs = int(layout.sentence[h.first])
        if hs < s - 1 or hs > s:
            continue
        row = out[h.aspect]
        if hs == s - 1:
            row[AspectFeature.TERM_IN_PREVIOUS_SENTENCE] = 1.0
            continue
        gap = a - h.last if h.last <= a else h.first - b if h.first >= b else 0
        row[AspectFeature.TERM_IN_EXPRESSION] = max(row[AspectFeature.TERM_IN_EXPRESSION],
                                                    float(h.first < b and h.last > a))
        row[AspectFeature.TERM_IN_CLAUSE] = max(row[AspectFeature.TERM_IN_CLAUSE],
                                                float(int(layout.clause[h.first]) == c))
        row[AspectFeature.TERM_IN_SENTENCE] = 1.0
        row[AspectFeature.TERM_NEAR] = max(row[AspectFeature.TERM_NEAR], math.exp(-max(gap, 0) / NEAR_SCALE))
    return out
