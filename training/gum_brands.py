"""Real text beside our corpus: GUM organisation chains as brand documents (docs/brand-eval-format.md).

Every GUM entity of type organization (or a named object, the nearest GUM has to a product) that has
a proper-name mention becomes a brand of a generated minimal catalogue (name, aliases, category):
its proper-name mentions are explicit marks, its third-person pronouns and definite nominals implicit
marks. Other entities stay plain text, so their pronouns are the distractors a linker must leave
alone. Only the CC-BY genres by default (`gum.CC_BY_GENRES`); the output is written to a folder the
caller names and is never committed, so the licence of each genre stays with the user's copy.

With `senses`, some named entities are renamed, consistently within their document, to a common word that
brands are named after (a bird, a tree, a stone): an organisation so renamed is an ambiguous brand, a place or
a person so renamed a non-brand use of the same name (`[[Heron|-]]`). The encoder's view of the context is
then the only thing that tells the senses apart, which is what the sense module must learn (issue 14).
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from brandscan.evaluation.brand_marks import DETERMINERS, THIRD_PERSON
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention
from brandscan.evaluation.datasets.gum import CC_BY_GENRES, read_gum

BRAND_TYPES = ("organization", "object")  # GUM entity types that can be a brand or a product
OTHER_SENSE_TYPES = ("place", "person")  # named entities whose renamed names are the brands' other senses
# Common words that brands take their names from; each is also a bird, tree, plant, stone, fruit or weather.
SENSE_WORDS = (
    "Heron", "Kestrel", "Wren", "Osprey", "Plover", "Curlew", "Merlin", "Swift", "Finch", "Lark", "Robin",
    "Raven", "Magpie", "Puffin", "Gannet", "Willow", "Rowan", "Hazel", "Alder", "Cedar", "Birch", "Maple",
    "Juniper", "Laurel", "Holly", "Aspen", "Sorrel", "Clover", "Bramble", "Thistle", "Heather", "Flint",
    "Granite", "Basalt", "Jasper", "Garnet", "Onyx", "Quartz", "Slate", "Cobalt", "Amber", "Coral", "Pebble",
    "Tangerine", "Quince", "Damson", "Mango", "Plum", "Lemon", "Olive", "Sable", "Marten", "Otter", "Badger",
    "Stoat", "Lynx", "Bison", "Mistral", "Monsoon", "Tempest", "Breeze", "Summit", "Harbour", "Meadow",
)
_SLUG = re.compile(r"[^a-z0-9]+")


def _entity_type(entity: str) -> str:
    return entity.split("-", 1)[0]


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "brand"


def brand_chains(doc: CorefDocument) -> dict[str, list[GoldMention]]:
    """Entities of a brand-like type with at least one proper-name mention, keyed by GUM entity id."""
    chains: dict[str, list[GoldMention]] = defaultdict(list)
    for m in doc.mentions:
        if _entity_type(m.entity) in BRAND_TYPES:
            chains[m.entity].append(m)
    return {e: ms for e, ms in chains.items() if any(m.kind == "proper" for m in ms)}


def _proper_span(doc: CorefDocument, m: GoldMention) -> tuple[int, int]:
    """A name without its leading article: "the Medical Journal" is named "Medical Journal"."""
    first = doc.text[m.start:m.end].split(" ", 1)
    if len(first) == 2 and first[0].lower() in ("the", "a", "an"):
        return m.start + len(first[0]) + 1, m.end
    return m.start, m.end


def _implicit(doc: CorefDocument, m: GoldMention) -> bool:
    words = doc.text[m.start:m.end].lower().split()
    if m.kind == "pronoun":
        return len(words) == 1 and words[0] in THIRD_PERSON
    return m.kind == "nominal" and len(words) >= 2 and words[0] in DETERMINERS


@dataclass(frozen=True)
class SenseNames:
    """Entity id -> the common word it was renamed to: brands (organisations, objects) and other senses."""

    brands: dict[str, str]
    others: dict[str, str]


def renamed_senses(doc: CorefDocument, rng: random.Random, used: set[str],
                   share: float = 0.5) -> tuple[CorefDocument, SenseNames]:
    """About `share` of the document's named brand-like and place/person entities renamed to common words.
    An other-sense entity takes a word some brand already took (`used`, shared across documents), so every
    non-brand use names a catalogue brand; mentions overlapping a replaced name (a place inside an
    organisation's name) are dropped."""
    # Brand-like entities first, so that the others draw only from words no entity here has taken.
    named = sorted({m.entity for m in doc.mentions if m.kind == "proper"},
                   key=lambda e: (_entity_type(e) not in BRAND_TYPES, e))
    brands: dict[str, str] = {}
    others: dict[str, str] = {}
    taken: set[str] = set()
    for entity in named:
        etype = _entity_type(entity)
        if etype not in BRAND_TYPES + OTHER_SENSE_TYPES or rng.random() >= share:
            continue
        pool = [w for w in (SENSE_WORDS if etype in BRAND_TYPES else sorted(used)) if w not in taken]
        if not pool:
            continue
        word = rng.choice(pool)
        taken.add(word)
        (brands if etype in BRAND_TYPES else others)[entity] = word
        if etype in BRAND_TYPES:
            used.add(word)
    words = {**brands, **others}
    replaced = sorted(((*_proper_span(doc, m), words[m.entity]) for m in doc.mentions
                       if m.kind == "proper" and m.entity in words), key=lambda r: (r[0], -r[1]))
    edits: list[tuple[int, int, str]] = []
    for start, end, word in replaced:  # a name inside a replaced name goes with it
        if not edits or start >= edits[-1][1]:
            edits.append((start, end, word))
    pieces, cursor = [], 0
    for start, end, word in edits:
        pieces += [doc.text[cursor:start], word]
        cursor = end
    pieces.append(doc.text[cursor:])

    def moved(pos: int) -> int:
        return pos + sum(len(w) - (e - s) for s, e, w in edits if e <= pos)

    mentions = tuple(GoldMention(moved(m.start), moved(m.end), m.entity, m.kind) for m in doc.mentions
                     if not any(s < m.end and m.start < e and not (m.start <= s and e <= m.end) for s, e, _ in edits))
    return CorefDocument(doc.id, "".join(pieces), mentions, doc.genre), SenseNames(brands, others)


def marked_document(doc: CorefDocument, catalog: dict[str, dict], senses: SenseNames | None = None) -> str:
    """The annotated text of one GUM document ('' when it names no brand). Brands go into `catalog`
    (id -> entry), shared across documents: a chain whose name is already there joins that brand. With
    `senses` (from `renamed_senses`), the renamed brands are ambiguous and the renamed places and people
    are marked as non-brand uses of their new names."""
    senses = senses or SenseNames({}, {})
    chains = brand_chains(doc)
    if not chains:
        return ""
    owner = {name.lower(): bid for bid, entry in catalog.items() for name in [entry["name"], *entry["aliases"]]}
    marks = [(*_proper_span(doc, m), f"[[{senses.others[m.entity]}|-]]") for m in doc.mentions
             if m.kind == "proper" and m.entity in senses.others]
    for entity, mentions in sorted(chains.items()):
        names = sorted({doc.text[slice(*_proper_span(doc, m))] for m in mentions if m.kind == "proper"},
                       key=lambda n: (-len(n), n))
        brand_id = next((owner[n.lower()] for n in names if n.lower() in owner), None)
        if brand_id is None:
            brand_id = _slug(names[0])
            while brand_id in catalog:
                brand_id += "-x"
            catalog[brand_id] = {"id": brand_id, "name": names[0], "aliases": [],
                                 "category": _entity_type(entity)}
        entry = catalog[brand_id]
        if entity in senses.brands:
            entry["ambiguous"] = True
        for name in names:
            if name.lower() not in owner:
                owner[name.lower()] = brand_id
                if name.lower() != entry["name"].lower():
                    entry["aliases"].append(name)
        for m in mentions:
            start, end = _proper_span(doc, m)
            if m.kind == "proper" and owner[doc.text[start:end].lower()] == brand_id:
                marks.append((start, end, f"[[{doc.text[start:end]}|{brand_id}]]"))
            elif _implicit(doc, m):
                marks.append((m.start, m.end, f"{{{{{doc.text[m.start:m.end]}|{brand_id}}}}}"))
    # Marks never nest: the outermost (earliest, then longest) mention wins a contested stretch.
    marks.sort(key=lambda x: (x[0], -x[1]))
    pieces, cursor = [], 0
    for start, end, mark in marks:
        if start < cursor or any(c in doc.text[start:end] for c in "[]{}<>|\n"):
            continue
        pieces += [doc.text[cursor:start], mark]
        cursor = end
    pieces.append(doc.text[cursor:])
    return "".join(pieces)


def build_gum_brands(gum_root: str | Path, split: str, out: str | Path,
                     genres: tuple[str, ...] | None = CC_BY_GENRES, senses: bool = False, seed: int = 0) -> int:
    """Write the GUM documents of `split` that name a brand as annotated files + catalog.yaml in `out`;
    returns how many documents were written. `senses`: names renamed to common words (`renamed_senses`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    catalog: dict[str, dict] = {}
    rng, used = random.Random(seed), set()
    written = 0
    for doc in read_gum(gum_root, split, genres):
        names = None
        if senses:
            doc, names = renamed_senses(doc, rng, used)
        marked = marked_document(doc, catalog, names)
        if not marked:
            continue
        (out / f"{doc.id}.md").write_text(f"<!-- genre: gum_{doc.genre} -->\n{marked}\n", encoding="utf-8")
        written += 1
    (out / "catalog.yaml").write_text(
        "# Generated by `brandscan corpus gum` from GUM (CC-BY annotations; see each genre's licence).\n"
        + yaml.safe_dump({"brands": list(catalog.values())}, sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    return written
