"""Distant-antecedent augmentation: GAP rows with unrelated paragraphs between the names and the pronoun.

GAP (and most of LitBank/GUM) puts a pronoun within a few sentences of its named antecedent, so a
head trained on it alone learns "far away = no entity" and fails on the product's headline case (a
brand named 20 paragraphs earlier). A variant of a GAP row keeps its text up to the sentence before
the pronoun's, then inserts k paragraphs of filler, then the rest: the gold answer is unchanged
(the filler names nobody the pronoun could refer to), only the distance grows.

Filler paragraphs come from GUM train documents of the CC-BY genres (the same licence terms as the
rest of the training data), and only paragraphs without he/she/him/her/his/himself/herself are used,
so no person in the filler competes with GAP's masculine/feminine pronoun.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence

from brandscan.evaluation.datasets.coref import CorefDocument, LinkDocument, LinkQuery

_PERSONAL = re.compile(r"(?<![\w'])(he|she|him|her|hers|his|himself|herself)(?![\w'])", re.I)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*\s+")


def filler_paragraphs(docs: Sequence[CorefDocument], min_chars: int = 80, max_chars: int = 700) -> list[str]:
    """Paragraphs of the given documents usable as neutral filler (no personal pronouns)."""
    out = []
    for doc in docs:
        for paragraph in doc.text.split("\n\n"):
            paragraph = paragraph.strip()
            if min_chars <= len(paragraph) <= max_chars and not _PERSONAL.search(paragraph):
                out.append(" ".join(paragraph.split()))
    return out


def distant_variant(doc: LinkDocument, filler: Sequence[str], rng: random.Random, lo: int = 4,
                    hi: int = 20) -> LinkDocument | None:
    """The document with lo..hi filler paragraphs before the query's sentence, or None when a name
    occurs in or after that sentence (then the distance could not grow for every anchor)."""
    if len(doc.queries) != 1 or len(filler) < hi:
        return None
    query = doc.queries[0]
    cut = 0
    for found in _SENTENCE_END.finditer(doc.text, 0, query.start):
        cut = found.end()
    last_anchor = max((a.end for anchors in doc.entities for a in anchors), default=0)
    if cut == 0 or last_anchor > cut:
        return None
    inserted = "\n\n" + "\n\n".join(rng.sample(list(filler), rng.randint(lo, hi))) + "\n\n"
    head = doc.text[:cut].rstrip()
    shift = len(head) + len(inserted) - cut
    text = head + inserted + doc.text[cut:]
    moved = LinkQuery(query.start + shift, query.end + shift, query.kind, query.entities, query.gold, query.tag)
    assert text[moved.start:moved.end] == doc.text[query.start:query.end]
    return LinkDocument(doc.id + "+distant", text, doc.entities, (moved,), source=doc.source + "-distant")
