"""Annotated brand documents as opinion-head training items: the document pass's states (the same
front half as `analyze`), O/B/I tags of the gold expressions, gold brand references, and per gold
opinion its candidate references, judged brands, polarity and aspect.

`--brands` folders named `dev` are refused by the caller (training/brand_training.refuse_dev).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stages.encode import FrontHalf, front_half
from brandscan.engine.stages.sentiment.aspects import OVERALL, AspectTable, term_hits
from brandscan.engine.stages.sentiment.features import (
    Reference,
    aspect_features,
    candidates,
    pair_features,
    reference_sentences,
)
from brandscan.engine.stages.sentiment.layout import TokenLayout, token_layout
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.evaluation.brand_marks import BrandDoc

POLARITY_INDEX = {"neg": HEAD_LABELS.index("negative"), "neu": HEAD_LABELS.index("neutral"),
                  "pos": HEAD_LABELS.index("positive")}
_KIND = {"first_person": "pronoun", "pronoun": "pronoun", "nominal": "nominal"}


@dataclass(frozen=True, eq=False)
class OpinionItems:
    """One document, ready for the head. Expressions and references are word-piece ranges."""

    name: str
    doc: BrandDoc
    tokens: TokenizedDocument
    layout: TokenLayout
    states: torch.Tensor  # (n, d) float32, the document pass's final states
    tags: torch.Tensor  # (n,) int64: 0 O, 1 B, 2 I
    expressions: list[tuple[int, int]]
    references: list[Reference]
    pairs: list[tuple[int, int, float]]  # (expression, reference, judged 0/1)
    pair_features: np.ndarray  # (len(pairs), F)
    polarities: list[tuple[int, int, int]]  # (expression, reference, HEAD_LABELS index)
    aspects: list[tuple[int, int]]  # (expression, 0 = overall or table index + 1)
    aspect_features: np.ndarray  # (len(expressions), K, A)


def gold_references(doc: BrandDoc, tokens: TokenizedDocument, explicit_kinds: dict[tuple[int, int], str]) -> list[Reference]:
    out = []
    for g in doc.gold:
        if g.brand is None or g.kind not in ("explicit", "pronoun", "nominal", "first_person"):
            continue
        kind = explicit_kinds.get((g.start, g.end), "explicit") if g.kind == "explicit" else _KIND[g.kind]
        try:
            first, last = tokens.token_span(g.start, g.end)
        except ValueError:
            continue
        out.append(Reference(first, last, g.brand, kind))
    return sorted(out, key=lambda r: (r.first, r.last))


def _nearest_of(references: Sequence[Reference], brand: str, expression: tuple[int, int],
                chosen: Sequence[int]) -> int | None:
    """The reference of `brand` nearest the expression: among the candidates if any, else anywhere."""
    def gap(i: int) -> tuple[int, int]:
        r = references[i]
        return (max(expression[0] - r.last, r.first - expression[1], 0), -r.first)

    own = [i for i in chosen if references[i].brand == brand]
    if not own:
        own = [i for i, r in enumerate(references) if r.brand == brand]
    return min(own, key=gap) if own else None


def document_items(doc: BrandDoc, setup: FrontHalf, encoder: torch.nn.Module, table: AspectTable, *, window: int,
                   budget: int, reference_window: int) -> OpinionItems:
    """The training items of one annotated document."""
    state = front_half(doc.text, setup, encoder, window=window, budget=budget)  # type: ignore[arg-type]
    tokens = state.tokens
    assert state.encoded.states is not None
    layout = token_layout(tokens)
    tags = torch.zeros(tokens.n_tokens, dtype=torch.long)  # (n,)
    explicit_kinds = {(m.start, m.end): m.kind for m in state.explicit}
    references = gold_references(doc, tokens, explicit_kinds)
    hits = term_hits(tokens, table)
    sentences = reference_sentences(layout, references)
    expressions: list[tuple[int, int]] = []
    pairs: list[tuple[int, int, float]] = []
    feats, lex = [], []
    polarities: list[tuple[int, int, int]] = []
    aspects: list[tuple[int, int]] = []
    for o in doc.opinions:
        try:
            first, last = tokens.token_span(o.start, o.end)
        except ValueError:
            continue
        tags[first] = 1
        tags[first + 1:last] = 2
        k = len(expressions)
        expressions.append((first, last))
        chosen = candidates(layout, (first, last), sentences, reference_window)
        judged = {j.brand for j in o.judgements}
        pairs += [(k, i, float(references[i].brand in judged)) for i in chosen]
        if chosen:
            feats.append(pair_features(layout, (first, last), references, chosen, sentences))
        for j in o.judgements:
            i = _nearest_of(references, j.brand, (first, last), chosen)
            if i is not None:
                polarities.append((k, i, POLARITY_INDEX[j.polarity]))
        aspect = o.judgements[0].aspect
        aspects.append((k, 0 if aspect == OVERALL or aspect not in table.ids else table.ids.index(aspect) + 1))
        lex.append(aspect_features(layout, (first, last), hits, len(table.ids)))
    n_features = feats[0].shape[1] if feats else 0
    encoded = state.encoded.states
    return OpinionItems(doc.name, doc, tokens, layout, encoded.last_hidden.float().clone(), tags,
                        expressions, references, pairs,
                        np.concatenate(feats) if feats else np.zeros((0, n_features), dtype=np.float32),
                        polarities, aspects,
                        np.stack(lex) if lex else np.zeros((0, len(table.ids), 5), dtype=np.float32))


def corpus_items(docs: Sequence[BrandDoc], catalog: Catalog, tokenizer: object, encoder: torch.nn.Module,
                 table: AspectTable, *, window: int, budget: int, reference_window: int,
                 log: object = print) -> list[OpinionItems]:
    from brandscan.engine.stages.mentions import brand_lexicon

    setup = FrontHalf(catalog, brand_lexicon(catalog), tokenizer)
    out = []
    for n, doc in enumerate(docs, 1):
        items_setup = setup if doc.author is None else FrontHalf(catalog, setup.lexicon, tokenizer, author=doc.author)
        out.append(document_items(doc, items_setup, encoder, table, window=window, budget=budget,
                                  reference_window=reference_window))
        if n % 20 == 0:
            log(f"encoded {n}/{len(docs)} documents")  # type: ignore[operator]
    return out
