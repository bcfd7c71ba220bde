"""Annotated brand documents (evaluation/brand_marks.py) in the linking training shape (coref.LinkDocument).

- explicit marks `[[Heron Air|heron-air]]` are the anchors of their brand (one entity per brand);
- implicit marks `{{it|heron-air}}` (pronoun, nominal, first person) are queries whose gold is that brand;
- unmarked it/they-family pronouns and `{{x|-}}` marks are queries whose gold is "none" (distractors).
  The pronoun set is the engine's (brand_marks.THIRD_PERSON): he/she are never brand candidates there,
  so they teach the head nothing it will be asked;
- non-brand marks of ambiguous names `[[heron|-]]` are left out: an ambiguous name's sense is the
  head's sense module, trained by `train linking-head` (training/linking_head.py), not a ranking query.
An implicit mark of a brand never named explicitly in its document (first person with `--author`) is
left out too: its entity has no anchor, and making it a "none" query would teach the opposite of the gold.
"""
from __future__ import annotations

import re
from pathlib import Path

from brandscan.engine.catalog import Catalog, load_catalog
from brandscan.evaluation.brand_marks import THIRD_PERSON, BrandDoc, read_brand_docs
from brandscan.evaluation.datasets.coref import MAX_ENTITIES, CharSpan, LinkDocument, LinkQuery

SOURCE = "brands"
# The engine's pronoun pattern (stages/candidates.py): "it's" is a candidate, "it-based" is not.
_PRONOUN = re.compile(r"(?<![\w'’-])(" + "|".join(sorted(THIRD_PERSON)) + r")(?![\w-])", re.I)


def _nearest(anchors: tuple[CharSpan, ...], position: int) -> int:
    return min(abs(a.start - position) for a in anchors)


def _query(entities: tuple[tuple[CharSpan, ...], ...], start: int, end: int, kind: str, gold: int, tag: str,
           max_entities: int) -> LinkQuery:
    """The nearest `max_entities` brands by anchor distance are the candidates, the gold one kept."""
    order = sorted(range(len(entities)), key=lambda i: (_nearest(entities[i], start), i))
    chosen = order[:max_entities]
    if gold >= 0 and gold not in chosen:
        chosen[-1] = gold
    return LinkQuery(start, end, kind, tuple(sorted(chosen)), gold, tag=tag)


def brand_to_link(doc: BrandDoc, max_entities: int = MAX_ENTITIES) -> LinkDocument | None:
    """One annotated document as a LinkDocument; None when it names no brand explicitly."""
    named: dict[str, list[CharSpan]] = {}
    for g in doc.gold:
        if g.kind == "explicit" and g.brand is not None:
            named.setdefault(g.brand, []).append(CharSpan(g.start, g.end))
    if not named:
        return None
    labels = sorted(named, key=lambda b: (named[b][0].start, b))
    entities = tuple(tuple(sorted(named[b], key=lambda s: s.start)) for b in labels)
    index = {label: i for i, label in enumerate(labels)}
    found: list[LinkQuery] = []
    for g in doc.gold:
        if g.kind in ("pronoun", "nominal", "first_person") and g.brand in index:
            found.append(_query(entities, g.start, g.end, g.kind, index[g.brand], g.brand or "", max_entities))
        elif g.kind == "not_brand":
            kind = "pronoun" if doc.text[g.start:g.end].lower() in THIRD_PERSON else "nominal"
            found.append(_query(entities, g.start, g.end, kind, -1, "", max_entities))
    marked = [(g.start, g.end) for g in doc.gold]
    for match in _PRONOUN.finditer(doc.text):
        if not any(s < match.end() and match.start() < e for s, e in marked):
            found.append(_query(entities, match.start(), match.end(), "pronoun", -1, "", max_entities))
    queries = tuple(sorted(found, key=lambda q: (q.start, q.end)))
    return LinkDocument(Path(doc.name).stem, doc.text, entities, queries, source=SOURCE)


def read_brand_corpus(folder: str | Path) -> tuple[tuple[BrandDoc, ...], Catalog]:
    """The annotated documents of a folder and its catalogue (catalog.yaml beside them)."""
    return read_brand_docs(folder), load_catalog(Path(folder) / "catalog.yaml")


def read_brand_links(folder: str | Path, max_entities: int = MAX_ENTITIES) -> tuple[LinkDocument, ...]:
    """Every document of the folder that names a brand, as a LinkDocument."""
    docs = (brand_to_link(d, max_entities) for d in read_brand_docs(folder))
    return tuple(d for d in docs if d is not None)
