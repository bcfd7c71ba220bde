"""Scoring annotated brand documents (docs/brand-eval-format.md) against what the analyzer reports."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..passages import paragraph_spans
from ..report import Mention
from .brand_marks import BrandDoc, GoldSpan, parse_brand_doc, read_brand_docs

__all__ = ["BrandDoc", "GoldSpan", "parse_brand_doc", "read_brand_docs", "score_brand_docs", "link_mentions"]
FAR_PARAGRAPHS = 3  # a link is "distant" when its brand was last named more than this many paragraphs back


@dataclass(frozen=True)
class BrandScores:
    explicit_precision: float
    explicit_recall: float
    explicit_f1: float
    implicit_accuracy: float
    implicit_total: int
    distant_accuracy: float
    distant_total: int
    rejection_accuracy: float  # non-brand spans left without a brand
    rejection_total: int


def _paragraph_of(text: str) -> list[tuple[int, int]]:
    return paragraph_spans(text)


def score_brand_docs(docs: Sequence[BrandDoc], predictions: Sequence[Sequence[Mention]]) -> BrandScores:
    tp = fp = fn = 0
    implicit = [0, 0]
    distant = [0, 0]
    rejection = [0, 0]
    for doc, mentions in zip(docs, predictions):
        linked = {(m.start, m.end): m.brand for m in mentions if m.brand is not None}
        gold_explicit = {(g.start, g.end): g.brand for g in doc.gold if not g.implicit and g.brand}
        predicted_explicit = {
            (m.start, m.end): m.brand for m in mentions
            if m.brand is not None and m.kind not in ("pronoun", "nominal", "product")
            or (m.brand is not None and m.kind == "product" and m.probability is None)
        }
        for span, brand in predicted_explicit.items():
            if gold_explicit.get(span) == brand:
                tp += 1
            else:
                fp += 1
        fn += sum(1 for span, brand in gold_explicit.items() if predicted_explicit.get(span) != brand)
        paragraphs = _paragraph_of(doc.text)

        def paragraph(pos: int) -> int:
            return max((i for i, (s, _) in enumerate(paragraphs) if s <= pos), default=0)

        for g in doc.gold:
            if g.brand is None:
                rejection[1] += 1
                rejection[0] += not any(s < g.end and g.start < e for (s, e) in linked)
                continue
            if not g.implicit:
                continue
            ok = linked.get((g.start, g.end)) == g.brand
            implicit[0] += ok
            implicit[1] += 1
            before = [e.start for e in doc.gold if not e.implicit and e.brand == g.brand and e.start < g.start]
            if before and paragraph(g.start) - paragraph(max(before)) > FAR_PARAGRAPHS:
                distant[0] += ok
                distant[1] += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0

    def pct(x: list[int]) -> float:
        return 100.0 * x[0] / x[1] if x[1] else 0.0

    return BrandScores(100 * p, 100 * r, 100 * (2 * p * r / (p + r) if p + r else 0.0), pct(implicit), implicit[1],
                       pct(distant), distant[1], pct(rejection), rejection[1])


def link_mentions(text: str, catalog, encoder, linker, tokenizer, budget: int,  # type: ignore[no-untyped-def]
                  author: str | None = None, options=None) -> list[Mention]:
    """Explicit mentions and linked candidates of one text, as the analyzer would report them."""
    import numpy as np

    from ..candidates import find_candidates
    from ..globals import select_global_tokens
    from ..linking import LinkingOptions, encode_for_linking, link_document
    from ..mentions import brand_lexicon, find_explicit
    from ..passages import tokenize_document

    tokens = tokenize_document(text, tokenizer)
    explicit = find_explicit(text, brand_lexicon(catalog), catalog)
    markers = np.flatnonzero(tokens.is_marker).tolist()
    anchors = [(tokens.token_span(m.start, m.end)[0], m.brand) for m in explicit]
    positions = np.asarray(select_global_tokens(tokens.n_tokens, markers, anchors, budget), dtype=np.int64)
    encoded = encode_for_linking(encoder, tokens, positions)
    candidates = find_candidates(text, explicit, catalog, author)
    result = link_document(tokens, explicit, candidates, encoded, positions, catalog, linker,
                           options or LinkingOptions())
    decided = {(m.start, m.end) for m in result.mentions}
    mentions = [Mention("", m.brand, m.kind, m.start, m.end, m.text, 0) for m in explicit
                if (m.start, m.end) not in decided]
    return sorted(mentions + list(result.mentions), key=lambda m: (m.start, m.end))
