"""Coordination variants of MAMS sentences: an opinion about "the X" also holds for "the X and the Y".

MAMS keeps only sentences whose aspects disagree, so a term joined to another by "and" there often
carries another label (about a quarter of adjacent coordinated pairs in MAMS train), and a model
trained on it learns that a listed item rarely shares its neighbour's opinion. Reviews outside
MAMS list what they liked ("loved the naan and the dals"). A variant joins one more aspect term,
drawn from the training vocabulary, to a positive or negative term of the sentence, and gives it
that term's polarity; everything else about the sentence is unchanged.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from brandscan.evaluation.datasets.absa import AbsaSentence, AspectTerm

OPINIONATED = ("positive", "negative")
_DETERMINERS = ("the", "their", "our", "its", "his", "her", "my", "your")


def aspect_vocabulary(sentences: Sequence[AbsaSentence], min_count: int = 3) -> tuple[str, ...]:
    """Aspect terms seen at least `min_count` times (lower-cased), most frequent first."""
    counts = Counter(t.term.lower() for s in sentences for t in s.terms)
    return tuple(term for term, n in counts.most_common() if n >= min_count and term.strip())


def coordination_variant(
    sentence: AbsaSentence, vocabulary: Sequence[str], rng: random.Random
) -> AbsaSentence | None:
    """The sentence with " and the Y" after one of its opinionated terms, Y sharing that polarity;
    None when the sentence has no positive or negative term."""
    opinionated = [t for t in sentence.terms if t.polarity in OPINIONATED]
    present = {t.term.lower() for t in sentence.terms}
    choices = [v for v in vocabulary if v not in present]
    if not opinionated or not choices:
        return None
    target = rng.choice(opinionated)
    added = rng.choice(choices)
    before = sentence.text[: target.start].split()
    determiner = before[-1].lower() if before and before[-1].lower() in _DETERMINERS else ""
    joint = f" and {determiner} " if determiner else " and "
    insert = joint + added
    shift = len(insert)
    terms = [
        t if t.start < target.end else AspectTerm(t.term, t.start + shift, t.end + shift, t.polarity)
        for t in sentence.terms
    ]
    start = target.end + len(joint)
    terms.append(AspectTerm(added, start, start + len(added), target.polarity))
    text = sentence.text[: target.end] + insert + sentence.text[target.end :]
    return AbsaSentence(f"{sentence.id}+and", text, tuple(sorted(terms, key=lambda t: t.start)))


def with_variants(
    sentences: Sequence[AbsaSentence], vocabulary: Sequence[str], share: float, rng: random.Random
) -> list[AbsaSentence]:
    """One epoch's sentences: a seeded `share` of them replaced by their coordination variant (the
    step count stays the same)."""
    if share <= 0:
        return list(sentences)
    out = []
    for s in sentences:
        variant = coordination_variant(s, vocabulary, rng) if rng.random() < share else None
        out.append(variant if variant is not None else s)
    return out
