"""The one shape every linking dataset is read into, and the conversion from coreference documents.

A `LinkDocument` mirrors what the analyzer sees in a brand document: entities that are *named*
somewhere (their named mentions are the anchors, like explicit brand mentions, and become global
tokens), and queries (pronouns, definite nominals) that must be linked to one of those entities or
to none. GAP rows, GUM documents and LitBank documents all become LinkDocuments, so one training loop
and one evaluation serve all three.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GoldKind = Literal["proper", "nominal", "pronoun"]

THIRD_PERSON = frozenset(
    "he him his himself she her hers herself it its itself they them their theirs themselves".split()
)
DEFINITE = frozenset("the this that these those".split())
# Candidate entities per query: the nearest ones by anchor distance. Brand documents rarely name
# more brands than this; long novels name many more people, and distant ones are rarely right.
MAX_ENTITIES = 16


@dataclass(frozen=True)
class CharSpan:
    start: int
    end: int


@dataclass(frozen=True)
class GoldMention:
    start: int
    end: int
    entity: str
    kind: GoldKind


@dataclass(frozen=True)
class CorefDocument:
    id: str
    text: str
    mentions: tuple[GoldMention, ...]
    genre: str = ""


@dataclass(frozen=True)
class LinkQuery:
    start: int
    end: int
    kind: str  # "pronoun" | "nominal"
    entities: tuple[int, ...]  # indices into LinkDocument.entities: the candidates, gold included
    gold: int  # index into LinkDocument.entities, or -1 for "no entity"
    tag: str = ""  # GAP: "M" or "F"; coref: the gold entity's label


@dataclass(frozen=True)
class LinkDocument:
    id: str
    text: str
    entities: tuple[tuple[CharSpan, ...], ...]  # anchors (named mentions) per entity
    queries: tuple[LinkQuery, ...]
    source: str = ""  # "gap" | "gum" | "litbank" | "brands"


def _nearest(anchors: tuple[CharSpan, ...], position: int) -> int:
    return min(abs(a.start - position) for a in anchors)


def coref_to_link(doc: CorefDocument, source: str, max_entities: int = MAX_ENTITIES) -> LinkDocument:
    """Named entities become anchor sets; third-person pronouns and definite nominals become queries."""
    named: dict[str, list[CharSpan]] = {}
    for m in doc.mentions:
        if m.kind == "proper":
            named.setdefault(m.entity, []).append(CharSpan(m.start, m.end))
    labels = sorted(named, key=lambda e: (named[e][0].start, e))
    entities = tuple(tuple(sorted(named[e], key=lambda s: s.start)) for e in labels)
    index = {label: i for i, label in enumerate(labels)}
    queries: list[LinkQuery] = []
    for m in doc.mentions:
        words = doc.text[m.start:m.end].lower().split()
        if not words:
            continue
        if m.kind == "pronoun":
            if len(words) != 1 or words[0] not in THIRD_PERSON:
                continue
        elif m.kind == "nominal":
            if words[0] not in DEFINITE or len(words) > 6:
                continue
        else:
            continue
        # Its own span may be an anchor of nothing; pick the nearest entities, gold kept.
        order = sorted(range(len(entities)), key=lambda i: (_nearest(entities[i], m.start), i))
        chosen = order[:max_entities]
        gold = index.get(m.entity, -1)
        if gold >= 0 and gold not in chosen:
            chosen[-1] = gold
        if not chosen:
            continue
        queries.append(
            LinkQuery(m.start, m.end, m.kind, tuple(sorted(chosen)), gold, tag=m.entity)
        )
    return LinkDocument(doc.id, doc.text, entities, tuple(queries), source=source)
