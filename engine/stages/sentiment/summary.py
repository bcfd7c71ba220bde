"""Per brand and aspect: counts, mean score and the strongest positive and negative expressions."""
from __future__ import annotations

from collections.abc import Sequence

from brandscan.engine import report as report_types


def _expression(opinion: report_types.Opinion) -> report_types.Span:
    return opinion.opinion_spans[0] if opinion.opinion_spans else opinion.aspect_span  # type: ignore[return-value]


def summarize_sentiment(
    opinions: Sequence[report_types.Opinion],
) -> dict[str, tuple[tuple[report_types.AspectSentiment, ...], float]]:
    """Per brand: one AspectSentiment per aspect (sorted by aspect id, named as the catalogue names it)
    and the net sentiment, the mean score of all the brand's opinions. Opinions without a brand are
    left out."""
    by_brand: dict[str, dict[str, list[report_types.Opinion]]] = {}
    for o in opinions:
        if o.brand is not None:
            by_brand.setdefault(o.brand, {}).setdefault(o.aspect, []).append(o)
    out = {}
    for brand, aspects in sorted(by_brand.items()):
        rows = []
        for aspect, group in sorted(aspects.items()):
            positives = [o for o in group if o.polarity == "positive"]
            negatives = [o for o in group if o.polarity == "negative"]
            rows.append(report_types.AspectSentiment(
                aspect=aspect,
                name=group[0].aspect_name,
                positive=len(positives),
                negative=len(negatives),
                neutral=len(group) - len(positives) - len(negatives),
                mean_score=sum(o.score for o in group) / len(group),
                # The first of equally strong expressions (document order) wins.
                strongest_positive=_expression(max(positives, key=lambda o: o.score)) if positives else None,
                strongest_negative=_expression(min(negatives, key=lambda o: o.score)) if negatives else None,
            ))
        scores = [o.score for group in aspects.values() for o in group]
        out[brand] = (tuple(rows), sum(scores) / len(scores))
    return out
