"""Held-out figures of an opinion head during training: the `eval brands` opinion scores (brand x
aspect agreement, opinion F1), with the gold brand references standing in for linking's, beside the
lexicon baseline on the same documents."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from brandscan.engine.catalog import Catalog
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stages.sentiment.aspects import OVERALL, AspectTable, term_hits
from brandscan.engine.stages.sentiment.opinion_head import OpinionHead, OpinionHeadConfig
from brandscan.engine.stages.sentiment.opinions import judge
from brandscan.evaluation.brand_baselines import baseline_prediction
from brandscan.evaluation.brand_scores import BrandFigures, PredictedOpinion, Prediction, score_document
from brandscan.training.opinion_data import OpinionItems

_MARK = {"negative": "neg", "neutral": "neu", "positive": "pos"}
KEPT = ("opinion_f1", "opinion_precision", "opinion_recall", "brand_aspect_agreement")


def _kept(figures: BrandFigures) -> dict[str, float]:
    data = figures.as_dict()
    return {k: float(data.get(k, 0.0)) for k in KEPT}


def item_prediction(head: OpinionHead, config: OpinionHeadConfig, item: OpinionItems, table: AspectTable) -> Prediction:
    """What the head predicts for one document, scored as a report's opinions would be."""
    judged = judge(item.tokens, item.layout, item.states, item.references, table, term_hits(item.tokens, table), head,
                   config)
    opinions = []
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for j in judged:
        p = j.probabilities
        label = HEAD_LABELS[max(range(3), key=lambda c: (p[c], -c))]
        aspect = OVERALL if j.aspect == 0 else table.ids[j.aspect - 1]
        opinions.append(PredictedOpinion(j.expression.start, j.expression.end, j.reference.brand, aspect,
                                         _MARK[label]))
        scores[(j.reference.brand, aspect)].append(p[2] - p[0])
    signs = {key: (sum(v) > 0) - (sum(v) < 0) for key, v in scores.items()}
    return Prediction((), tuple(opinions), signs)


def held_out_figures(head: OpinionHead, config: OpinionHeadConfig, items: Sequence[OpinionItems], catalog: Catalog,
                     table: AspectTable) -> dict[str, float]:
    figures = BrandFigures()
    for item in items:
        score_document(item.doc, catalog, item_prediction(head, config, item, table), figures)
    return _kept(figures)


def baseline_figures(items: Sequence[OpinionItems], catalog: Catalog) -> dict[str, float]:
    figures = BrandFigures()
    for item in items:
        score_document(item.doc, catalog, baseline_prediction(item.doc.text, catalog, "nearest", item.doc.author),
                       figures)
    return _kept(figures)
