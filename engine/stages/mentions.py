"""Explicit mentions: where a document names a catalogue brand, one of its aliases, products or
handles. Candidates for linking (pronouns, nominals) are another module's job."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from brandscan.engine.catalog import Brand, Catalog, default_case_sensitive
from brandscan.engine.report import EXPLICIT_KINDS, ExplicitKind
from brandscan.engine.text.lexicon import Entry, Lexicon
from brandscan.engine.text.spans import SpanIndex
from brandscan.engine.text.words import PREPOSITIONS, STOPWORDS, opens_sentence

__all__ = ["ExplicitMention", "aspect_lexicon", "brand_entries", "brand_lexicon", "ends_longer_name", "find_explicit",
           "is_single_word"]

# The word before a name, on its line: a capitalised one ends a longer proper name with it ("Land Rover").
_WORD_BEFORE = re.compile(r"(?<![\w'’&-])([A-Z][\w'’&-]*) $")
# What may stand before the first word of a line and leave it the line's first: markdown headings, list
# bullets, quotes, table bars.
_LINE_MARKUP = " \t#*->|"



@dataclass(frozen=True)
class ExplicitMention:
    start: int
    end: int
    text: str  # == document[start:end]
    brand: str  # brand id
    kind: ExplicitKind
    ambiguous: bool  # the surface form has non-brand senses: linking decides whether it counts


def brand_entries(brand: Brand) -> Iterator[Entry]:
    """The brand's phrases in precedence order: name, aliases, products, handles."""
    # Writing the name again under `aliases` with its own `case_sensitive` overrides the default
    # rule for the name; the match is still reported as the name ("explicit").
    override = next((a for a in brand.aliases if a.text == brand.name), None)
    name_sensitive = (override.case_sensitive if override is not None
                      else default_case_sensitive(brand.name, brand.ambiguous))
    yield Entry(brand.name, brand.id, "explicit", name_sensitive)
    for alias in brand.aliases:
        if alias is not override:
            yield Entry(alias.text, brand.id, "alias", alias.case_sensitive)
    for product in brand.products:
        # Products are countable things people own several of: "two Trailblazer 2s".
        yield Entry(product.name, brand.id, "product",
                    default_case_sensitive(product.name, False), plural=True)
        for alias in product.aliases:
            yield Entry(alias.text, brand.id, "product", alias.case_sensitive, plural=True)
    for handle in brand.handles:
        # Platforms treat handles and hashtags case-insensitively, so people write them any way.
        yield Entry(handle, brand.id, "handle", False)


def brand_lexicon(catalog: Catalog) -> Lexicon:
    """One matcher for every brand phrase of the catalogue."""
    return Lexicon.build(entry for brand in catalog.brands for entry in brand_entries(brand))


def aspect_lexicon(catalog: Catalog) -> Lexicon:
    """Aspect terms, matched in any case and in the plural ("seats", "batteries"); key = aspect id."""
    return Lexicon.build(Entry(term, aspect.id, "aspect", False, plural=True)
                         for aspect in catalog.aspects for term in aspect.terms)


def is_single_word(text: str) -> bool:
    """One word, the form whose common senses (a fruit, a river, a bird) compete with the brand's."""
    return len(text.split()) == 1 and "-" not in text.strip("-")


def ends_longer_name(text: str, start: int, end: int, named: SpanIndex) -> bool:
    """Whether the one word text[start:end] is the last word of another proper name: the word right before
    it, in its sentence, is capitalised though it opens no sentence ("Land Rover", "Rushup Edge", "Mount
    Olympus", "Fiona Marshall", "the Ebro Delta"), so the name is a place's, a person's or another
    make's and not the catalogue's "Rover", "Edge", "Olympus", "Marshall" or "Delta".

    Not when that word is a function word (a title in title case: "Why I Switched To Orchard"), a
    possessive ("Apple's iPhone"), or a catalogue name itself (`named`: the spans the lexicon found).

    The encoder is uncased, so neither the ranking nor the sense module can see the capital that says
    this; products and unambiguous names never reach the sense module at all. Measured on the train
    split's marks (2026-12-07): of the 147 one-word names in this position, 146 are marked as no brand."""
    if not is_single_word(text[start:end]):
        return False
    before = _WORD_BEFORE.search(text, max(0, start - 40), start)
    if before is None:
        return False
    word = before.group(1)
    if word.lower() in STOPWORDS or word.lower() in PREPOSITIONS or word.endswith(("'s", "’s")):
        return False
    line_start = text.rfind("\n", 0, before.start()) + 1
    if opens_sentence(text, before.start()) or not text[line_start : before.start()].strip(_LINE_MARKUP):
        return False
    return not named.overlaps(before.start(), before.end())


def find_explicit(text: str, lexicon: Lexicon, catalog: Catalog) -> list[ExplicitMention]:
    """Explicit mentions in `text`, sorted by start, non-overlapping, offsets into `text`: every catalogue
    name the lexicon finds, less the ones that end a longer proper name (`ends_longer_name`)."""
    mentions: list[ExplicitMention] = []
    matches = [m for m in lexicon.find(text) if m.kind in EXPLICIT_KINDS]
    named = SpanIndex.of([(m.start, m.end) for m in matches])
    for match in matches:
        if ends_longer_name(text, match.start, match.end, named):
            continue
        brand = catalog.brand(match.key)
        # Only the brand's own names carry its ambiguity ("iPhone" and "@apple" have no fruit sense),
        # and only a name used alone: "Heron Air" is no bird, though "Heron" may be.
        ambiguous = brand.ambiguous and match.kind in ("explicit", "alias") and is_single_word(match.text)
        kind: ExplicitKind = match.kind  # type: ignore[assignment]  # checked against EXPLICIT_KINDS above
        mentions.append(ExplicitMention(match.start, match.end, match.text, match.key, kind,
                                        ambiguous))
    return mentions
