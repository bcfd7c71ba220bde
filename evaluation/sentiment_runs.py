"""Scoring the sentiment head on ABSA sentences (`eval absa`, and training's per-epoch figures)."""
from __future__ import annotations

from collections.abc import Sequence

from brandscan.engine.stages.sentiment.head import AspectQuery, SentimentScorer
from brandscan.evaluation.datasets.absa import AbsaSentence, Figures, polarity_figures


def evaluate(scorer: SentimentScorer, sentences: Sequence[AbsaSentence]) -> Figures:
    """Score every aspect term of `sentences` and compare with the gold polarities."""
    queries = [AspectQuery(s.text, t.start, t.end) for s in sentences for t in s.terms]
    gold = [t.polarity for s in sentences for t in s.terms]
    predicted = [r.polarity for r in scorer.score(queries)]
    return polarity_figures(gold, predicted)
