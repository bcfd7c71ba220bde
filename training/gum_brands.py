"""Real text beside our corpus: GUM organisation chains as brand documents (docs/brand-eval-format.md).

Every GUM entity of type organization (or a named object, the nearest GUM has to a product) that has
a proper-name mention becomes a brand of a generated minimal catalogue (name, aliases, category):
its proper-name mentions are explicit marks, its third-person pronouns and definite nominals implicit
marks. Other entities stay plain text, so their pronouns are the distractors a linker must leave
alone. Only the CC-BY genres by default (`gum.CC_BY_GENRES`); the output is written to a folder the
caller names and is never committed, so the licence of each genre stays with the user's copy.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml

from brandscan.evaluation.brand_marks import DETERMINERS, THIRD_PERSON
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention
from brandscan.evaluation.datasets.gum import CC_BY_GENRES, read_gum

BRAND_TYPES = ("organization", "object")  # GUM entity types that can be a brand or a product
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


def marked_document(doc: CorefDocument, catalog: dict[str, dict]) -> str:
    """The annotated text of one GUM document ('' when it names no brand). Brands go into `catalog`
    (id -> entry), shared across documents: a chain whose name is already there joins that brand."""
    chains = brand_chains(doc)
    if not chains:
        return ""
    owner = {name.lower(): bid for bid, entry in catalog.items() for name in [entry["name"], *entry["aliases"]]}
    marks = []
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
                     genres: tuple[str, ...] | None = CC_BY_GENRES) -> int:
    """Write the GUM documents of `split` that name a brand as annotated files + catalog.yaml in `out`;
    returns how many documents were written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    catalog: dict[str, dict] = {}
    written = 0
    for doc in read_gum(gum_root, split, genres):
        marked = marked_document(doc, catalog)
        if not marked:
            continue
        (out / f"{doc.id}.md").write_text(f"<!-- genre: gum_{doc.genre} -->\n{marked}\n", encoding="utf-8")
        written += 1
    (out / "catalog.yaml").write_text(
        "# Generated by `brandscan corpus gum` from GUM (CC-BY annotations; see each genre's licence).\n"
        + yaml.safe_dump({"brands": list(catalog.values())}, sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    return written
