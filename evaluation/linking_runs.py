"""Running the linking model over GAP and coreference dev sets and scoring it."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from brandscan.engine.stages.linking.head import AnyHead
from brandscan.evaluation.coref_metric import CorefDecision, CorefScores, coref_scores
from brandscan.evaluation.datasets.coref import CorefDocument, coref_to_link
from brandscan.evaluation.datasets.gap import GapRow, gap_to_link
from brandscan.evaluation.gap_metric import GapDecision, GapScores, gap_scores
from brandscan.evaluation.linking_items import Prepared, predict, prepare


def prepare_all(docs, tokenizer, budget: int) -> list[Prepared]:  # type: ignore[no-untyped-def]
    return [p for p in (prepare(d, tokenizer, budget) for d in docs) if p is not None]


def evaluate_gap(encoder: torch.nn.Module, head: AnyHead, rows: Sequence[GapRow], tokenizer,  # type: ignore[no-untyped-def]
                 window: int, budget: int, device: str) -> GapScores:
    items = prepare_all([gap_to_link(r) for r in rows], tokenizer, budget)
    chosen = predict(encoder, head, items, window, device)
    decisions = [
        GapDecision(item.doc.queries[0].tag, item.doc.queries[0].gold, picks[0])
        for item, picks in zip(items, chosen)
    ]
    return gap_scores(decisions)


def evaluate_coref(encoder: torch.nn.Module, head: AnyHead, docs: Sequence[CorefDocument], source: str,  # type: ignore[no-untyped-def]
                   tokenizer, window: int, budget: int, device: str) -> CorefScores:
    items = prepare_all([coref_to_link(d, source) for d in docs], tokenizer, budget)
    chosen = predict(encoder, head, items, window, device)
    decisions = []
    for item, picks in zip(items, chosen):
        for q, label, dist, pick in zip(item.queries, item.labels, item.passage_distance, picks):
            gold = q.entities[label - 1] if label > 0 else -1
            decisions.append(CorefDecision(q.kind, gold, pick, dist))
    return coref_scores(decisions)
