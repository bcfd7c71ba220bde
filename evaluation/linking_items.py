"""Labelled linking documents through the analysis front half: `prepare` tokenizes a LinkDocument
and chooses its global tokens as the Analyzer does, `doc_logits` runs the encoder and the head,
`predict` picks per query. Used by `eval gap|coref` and by training (which imports it from here)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.model.encoder import Encoder
from brandscan.engine.stages.encode import encoder_pass, global_positions
from brandscan.engine.stages.linking.features import build_features
from brandscan.engine.stages.linking.head import (
    AnyHead,
    EntitySpec,
    QuerySpec,
    initial_positions,
    sentence_initial,
)
from brandscan.engine.text.passages import TokenizedDocument, tokenize_document
from brandscan.evaluation.datasets.coref import LinkDocument


@dataclass(frozen=True, eq=False)
class Prepared:
    doc: LinkDocument
    tokens: TokenizedDocument
    global_positions: np.ndarray
    queries: tuple[QuerySpec, ...]
    entities: tuple[EntitySpec, ...]
    labels: tuple[int, ...]  # 0 = none, 1 + position of the gold entity within the query's candidates
    passage_distance: tuple[int, ...]
    initial: np.ndarray  # (n,) bool sentence-initial tokens at query and anchor starts


def prepare(doc: LinkDocument, tokenizer, budget: int) -> Prepared | None:  # type: ignore[no-untyped-def]
    tokens = tokenize_document(doc.text, tokenizer)
    entities = []
    for anchors in doc.entities:
        spans = []
        for a in anchors:
            try:
                spans.append(tokens.token_span(a.start, a.end))
            except ValueError:
                continue
        entities.append(EntitySpec(tuple(spans)))
    queries, labels, distances = [], [], []
    for q in doc.queries:
        try:
            span = tokens.token_span(q.start, q.end)
        except ValueError:
            continue
        cands = tuple(e for e in q.entities if entities[e].anchors)
        if not cands:
            continue
        label = 1 + cands.index(q.gold) if q.gold in cands else 0
        queries.append(QuerySpec(span[0], span[1], q.kind, cands))
        labels.append(label)
        if q.gold >= 0 and entities[q.gold].anchors:
            here = int(tokens.passage_of[span[0]])
            distances.append(min(abs(here - int(tokens.passage_of[s])) for s, _ in entities[q.gold].anchors))
        else:
            distances.append(0)
    if not queries:
        return None
    anchors = [(s, str(e)) for e, ent in enumerate(entities) for s, _ in ent.anchors]
    positions = global_positions(tokens, anchors, budget)  # as the Analyzer chooses them
    initial = sentence_initial(tokens, initial_positions(queries, entities))
    return Prepared(doc, tokens, positions, tuple(queries), tuple(entities), tuple(labels), tuple(distances),
                    initial)


def doc_logits(encoder: Encoder, head: AnyHead, item: Prepared, window: int, device: str,
               subset: Sequence[int] | None = None) -> Tensor:
    """Head logits (Q, 1+E) for the document's queries (or a subset), through the encoder."""
    tokens = item.tokens
    attention_window = window
    if torch.is_grad_enabled() and tokens.n_tokens - 1 > window // 2:
        # The streaming sparse kernel works in place and cannot be differentiated; in training a
        # long document takes the encoder's dense path (a window covering it). Anchors are global
        # tokens in analysis, so the features it learns from (attention to anchors at any
        # distance) stay available there. Scoring (no grad) runs the real sparse pattern.
        attention_window = 2 * tokens.n_tokens
    states = encoder_pass(encoder, tokens, item.global_positions, attention_window, keep_layers=1)
    gpos = torch.from_numpy(item.global_positions).to(device)
    queries = [item.queries[i] for i in subset] if subset is not None else list(item.queries)
    rows = torch.tensor(sorted({p for q in queries for p in range(q.tok_start, q.tok_end)}), device=device)
    att = states.layers[-1].row_attention(states.layer_inputs[-1], rows, gpos, attention_window)
    feats = build_features(states.last_hidden, att, tokens.passage_of, queries, item.entities, window, item.initial,
                           next(head.parameters()).dtype, none_context=head.config.none_context)
    return head(*feats)


def predict(encoder: Encoder, head: AnyHead, items: Sequence[Prepared], window: int,
            device: str) -> list[list[int]]:
    """Per document, per query: the chosen entity index into doc.entities, or -1 for none."""
    head.eval()
    encoder.eval()
    results = []
    with torch.no_grad():
        for item in items:
            logits = doc_logits(encoder, head, item, window, device)
            choice = logits.argmax(dim=-1).tolist()
            results.append([q.entities[c - 1] if c > 0 else -1 for q, c in zip(item.queries, choice)])
    return results
