"""The catalogue's aspects as the opinion head reads them: an embedding of each aspect's name and
terms (through the same encoder as the document), and the places its terms occur in a document.

The base encoder was trained for sentence similarity, so "battery: battery, battery life, charge"
lands near expressions about batteries even when no term is in the sentence; the head learns how
far to trust that against the terms themselves (features.ASPECT_FEATURES).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.encode import embed_texts
from brandscan.engine.stages.mentions import aspect_lexicon
from brandscan.engine.stages.sentiment.features import TermHit
from brandscan.engine.text.lexicon import Lexicon
from brandscan.engine.text.passages import TokenizedDocument

OVERALL = "overall"  # the aspect of a verdict on the brand as a whole
OVERALL_NAME = "overall"


@dataclass(frozen=True, eq=False)
class AspectTable:
    """Aspect ids and names in catalogue order, their embeddings, and the term matcher."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    keys: torch.Tensor  # (K, d) mean final state of "name: term, term, ..."
    lexicon: Lexicon
    catalog_sha256: str

    def name_of(self, aspect: str) -> str:
        return OVERALL_NAME if aspect == OVERALL else self.names[self.ids.index(aspect)]


def aspect_text(name: str, terms: tuple[str, ...]) -> str:
    """What an aspect's embedding encodes: its name, then its terms."""
    return f"{name}: {', '.join(terms)}" if terms else name


def aspect_table(catalog: Catalog, encoder: torch.nn.Module, tokenizer: object, window: int) -> AspectTable:
    aspects = catalog.aspects
    keys = embed_texts([aspect_text(a.name, a.terms) for a in aspects], encoder, tokenizer, window)
    return AspectTable(tuple(a.id for a in aspects), tuple(a.name for a in aspects), keys,
                       aspect_lexicon(catalog), catalog.sha256)


def term_hits(tokens: TokenizedDocument, table: AspectTable) -> list[TermHit]:
    """Every aspect term of the document, as word-piece positions."""
    index = {aspect: i for i, aspect in enumerate(table.ids)}
    hits = []
    for m in table.lexicon.find(tokens.text):
        if m.kind != "aspect" or m.key not in index:
            continue
        try:
            first, last = tokens.token_span(m.start, m.end)
        except ValueError:
            continue
        hits.append(TermHit(first, last, index[m.key]))
    return hits
