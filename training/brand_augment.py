"""Augmentation of annotated brand documents, seeded, in training (never written back to the corpus).

- rename_brands: every non-ambiguous brand gets invented names, consistently through the document and
  its catalogue entry, so a model cannot learn that "Heron Air" is an airline by memorising it;
- insert_distance: brand-free paragraphs inserted at paragraph breaks, so links become distant;
- name_by_common_word: an ambiguous brand named only by its common word ("Summit", never "Summit
  Outdoors"), in text and catalogue, as a user's catalogue for Amazon or Apple names it;
- minimal catalogues (engine.catalog.minimal): the hints a new user would not write.
Every edit keeps the gold exact: marks and opinions are moved with the text, never re-found.
"""
from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence

from brandscan.engine.catalog import Alias, Brand, Catalog, Product
from brandscan.engine.stages.mentions import is_single_word
from brandscan.engine.text.passages import paragraph_spans
from brandscan.evaluation.brand_marks import BrandDoc

_ONSETS = ("b", "br", "c", "cr", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p",
           "pr", "qu", "r", "s", "st", "t", "tr", "v", "w", "z", "sh", "th")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "n", "r", "l", "x", "s", "th", "nd", "rk", "ck", "m", "v", "lt")
_CAPITAL_WORD = re.compile(r"[A-Z][\w'’]*")

Edit = tuple[int, int, str]  # replace text[start:end] with the string (start == end: an insertion)


def invented_word(rng: random.Random) -> str:
    """A pronounceable made-up word of two or three syllables, capitalised."""
    syllables = rng.choice((2, 2, 3))
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
    return word.capitalize()


def apply_edits(doc: BrandDoc, edits: Sequence[Edit]) -> BrandDoc:
    """The document with `edits` applied; gold spans move with the text. An edited span must be a
    whole gold span (its new text replaces it) or touch none."""
    edits = sorted(edits)

    def moved(pos: int, is_end: bool) -> int:
        # Edits wholly before `pos` shift it; an insertion exactly at a span's end stays outside it.
        return pos + sum(len(new) - (e - s) for s, e, new in edits
                         if e <= pos and not (is_end and s == e == pos))

    replaced = {(s, e): new for s, e, new in edits if e > s}
    pieces, cursor = [], 0
    for start, end, new in edits:
        pieces += [doc.text[cursor:start], new]
        cursor = end
    pieces.append(doc.text[cursor:])
    text = "".join(pieces)

    def span(start: int, end: int) -> tuple[int, int]:
        new_start = moved(start, False)
        if (start, end) in replaced:
            return new_start, new_start + len(replaced[(start, end)])
        return new_start, moved(end, True)

    gold = tuple(dataclasses.replace(g, start=s, end=e) for g in doc.gold for s, e in [span(g.start, g.end)])
    opinions = tuple(dataclasses.replace(o, start=s, end=e) for o in doc.opinions
                     for s, e in [span(o.start, o.end)])
    return dataclasses.replace(doc, text=text, gold=gold, opinions=opinions)


def _renamer(brand: Brand, rng: random.Random, taken: set[str]) -> dict[str, str]:
    """Capitalised word -> invented word, for every word of the brand's names."""
    surfaces = [brand.name, *(a.text for a in brand.aliases)]
    for product in brand.products:
        surfaces += [product.name, *(a.text for a in product.aliases)]
    mapping: dict[str, str] = {}
    for surface in surfaces:
        for word in _CAPITAL_WORD.findall(surface):
            if word not in mapping:
                new = invented_word(rng)
                while new in taken:
                    new = invented_word(rng)
                taken.add(new)
                mapping[word] = new
    return mapping


def _rename(text: str, mapping: dict[str, str]) -> str:
    return _CAPITAL_WORD.sub(lambda m: mapping.get(m.group(), m.group()), text)


def _renamed_brand(brand: Brand, mapping: dict[str, str]) -> Brand:
    def alias(a: Alias) -> Alias:
        return dataclasses.replace(a, text=_rename(a.text, mapping))

    def product(p: Product) -> Product:
        return dataclasses.replace(p, name=_rename(p.name, mapping), aliases=tuple(alias(a) for a in p.aliases))

    handle_name = "".join(_rename(brand.name, mapping).split()).lower()
    return dataclasses.replace(
        brand, name=_rename(brand.name, mapping), aliases=tuple(alias(a) for a in brand.aliases),
        products=tuple(product(p) for p in brand.products),
        handles=tuple(f"{h[0]}{handle_name}{i or ''}" for i, h in enumerate(brand.handles)))


def rename_brands(doc: BrandDoc, catalog: Catalog, rng: random.Random) -> tuple[BrandDoc, Catalog]:
    """Invented names for the document's non-ambiguous brands, in its text, gold and catalogue.
    Ambiguous brands keep their names: their point is the common word they share with other senses."""
    by_id = {b.id: b for b in catalog.brands}
    present = sorted({g.brand for g in doc.gold if g.kind == "explicit" and g.brand in by_id})
    taken: set[str] = set()
    mappings = {bid: _renamer(by_id[bid], rng, taken) for bid in present if not by_id[bid].ambiguous}
    edits: list[Edit] = []
    for g in doc.gold:
        if g.kind == "explicit" and g.brand in mappings:
            surface = doc.text[g.start:g.end]
            if surface.startswith(("@", "#")):
                new = surface[0] + "".join(_rename(by_id[g.brand].name, mappings[g.brand]).split()).lower()
            else:
                new = _rename(surface, mappings[g.brand])
            if new != surface:
                edits.append((g.start, g.end, new))
    brands = tuple(_renamed_brand(b, mappings[b.id]) if b.id in mappings else b for b in catalog.brands)
    return apply_edits(doc, edits), dataclasses.replace(catalog, brands=brands, sha256=f"{catalog.sha256}+renamed")


def name_by_common_word(doc: BrandDoc, catalog: Catalog) -> tuple[BrandDoc, Catalog]:
    """Each ambiguous brand of the document with a one-word name and a longer one is named by the first
    one-word name alone: its longer names leave the catalogue, and its explicit marks written with them
    take the one word (products stay). Why: in the corpus every ambiguous brand also has an unambiguous
    full name, so the sense module never trains on a brand use with no such mention around it; it rejects
    "Amazon said its cloud unit grew" and the same sentence with an invented name, likely for that
    (docs/linking.md, where a head trained with these forms is measured)."""
    by_id = {b.id: b for b in catalog.brands}
    present = {g.brand for g in doc.gold if g.kind == "explicit" and g.brand in by_id}
    words: dict[str, str] = {}  # brand id -> its common word
    longer: dict[str, set[str]] = {}  # brand id -> its longer names, lower-cased
    for bid in sorted(present):
        brand = by_id[bid]
        names = [brand.name, *(a.text for a in brand.aliases)]
        single = [n for n in names if is_single_word(n)]
        if brand.ambiguous and single and len(single) < len(names):
            words[bid] = single[0]
            longer[bid] = {n.lower() for n in names if not is_single_word(n)}
    edits: list[Edit] = [(g.start, g.end, words[g.brand]) for g in doc.gold
                         if g.kind == "explicit" and g.brand in words and doc.text[g.start:g.end].lower() in longer[g.brand]]

    def renamed(brand: Brand) -> Brand:
        word = words[brand.id]
        aliases = tuple(a for a in brand.aliases if is_single_word(a.text) and a.text != word)
        return dataclasses.replace(brand, name=word, aliases=aliases)

    brands = tuple(renamed(b) if b.id in words else b for b in catalog.brands)
    return apply_edits(doc, edits), dataclasses.replace(catalog, brands=brands, sha256=f"{catalog.sha256}+common-word")


def insert_distance(doc: BrandDoc, filler: Sequence[str], rng: random.Random, count: int) -> BrandDoc:
    """`count` paragraphs from `filler` (brand-free text) inserted at random paragraph breaks."""
    paragraphs = paragraph_spans(doc.text)
    if len(paragraphs) < 2 or not filler:
        return doc
    breaks = [end for _, end in paragraphs[:-1]]
    edits = [(at, at, "\n\n" + rng.choice(filler)) for at in sorted(rng.choice(breaks) for _ in range(count))]
    return apply_edits(doc, edits)


def brand_free_paragraphs(docs: Sequence[BrandDoc]) -> list[str]:
    """Paragraphs that hold no mark and no opinion: the filler for insert_distance."""
    found = []
    for doc in docs:
        spans = sorted([(g.start, g.end) for g in doc.gold] + [(o.start, o.end) for o in doc.opinions])
        for start, end in paragraph_spans(doc.text):
            if not any(s < end and start < e for s, e in spans) and len(doc.text[start:end].split()) >= 12:
                found.append(doc.text[start:end])
    return found
