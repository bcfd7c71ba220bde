"""`brandscan corpus check DIR`: validate a folder of annotated brand documents and count what it holds.

A document is rejected when its marks do not parse, a brand id is not in the folder's catalogue, or
it breaks a convention of docs/brand-annotation.md that can be counted. No model is loaded.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from brandscan.engine.catalog import Brand, Catalog, load_catalog
from brandscan.engine.errors import BrandscanError
from brandscan.engine.report import EXPLICIT_KINDS
from brandscan.engine.stages.mentions import brand_lexicon
from brandscan.engine.text.lexicon import Lexicon, fold_key
from brandscan.engine.text.passages import paragraph_spans
from brandscan.evaluation.brand_marks import (
    DETERMINERS,
    OVERALL,
    BrandDoc,
    GoldSpan,
    brand_doc_files,
    parse_brand_doc,
)

GENRES: tuple[str, ...] = (
    "customer_review", "comparison_review", "forum_thread", "social_thread", "earnings_call",
    "analyst_note", "news_feature", "press_release", "travel_blog", "support_chat", "launch_coverage",
    "supply_chain_report", "podcast_transcript", "newsletter",
)
MIN_WORDS, MAX_WORDS = 300, 6000  # a document's length, in words
LONG_WORDS = 2000  # a "long" document is over this many words
MIN_BRANDS, MAX_BRANDS = 2, 8  # brands named explicitly in one document
DISTANT_PARAGRAPHS = 2  # distant: at least this many paragraphs after the brand's last explicit mention
REPEAT_WORDS = 8  # a repeated sentence of at least this many words counts against the corpus
MAX_REPEATED_SHARE = 0.02  # beyond this share of such sentences, the corpus is rejected

COUNT_KEYS: tuple[str, ...] = (
    "documents", "words", "explicit", "implicit", "distant", "nominal", "pronoun", "first_person",
    "non_brand", "ambiguous_brand_uses", "opinions", "opinion_expressions", "distractors",
    "long_documents",
)
_WORD = re.compile(r"\w[\w'’-]*")
_DISTRACTOR = re.compile(
    r"\b(?:it|its|itself|they|them|their|theirs|themselves|he|him|his|himself|she|her|hers|herself)\b",
    re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
# A speaker turn opens its paragraph with a label ending in a colon ("Maria Lopez, CFO, Halvard:").
_TURN_LABEL = re.compile(r"[^\n:]{1,160}:(?=\s)")
_PLURAL = ("s", "es")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def paragraph_index(paragraphs: list[tuple[int, int]], pos: int) -> int:
    """Index of the paragraph holding (or last starting before) character `pos`."""
    lo, hi = 0, len(paragraphs) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if paragraphs[mid][0] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


def distant_flags(doc: BrandDoc) -> dict[tuple[int, int], bool]:
    """For each implicit brand mark: is it >= DISTANT_PARAGRAPHS after its brand's last explicit mark?"""
    paragraphs = paragraph_spans(doc.text) or [(0, len(doc.text))]
    last_explicit: dict[str, int] = {}
    flags: dict[tuple[int, int], bool] = {}
    for g in sorted(doc.gold, key=lambda g: g.start):
        here = paragraph_index(paragraphs, g.start)
        if g.kind == "explicit" and g.brand:
            last_explicit[g.brand] = here
        elif g.kind in ("pronoun", "nominal", "first_person") and g.brand:
            before = last_explicit.get(g.brand)
            flags[(g.start, g.end)] = before is not None and here - before >= DISTANT_PARAGRAPHS
    return flags


def _surfaces(brand: Brand) -> tuple[set[str], set[str]]:
    """(folded names, aliases and handles; folded product names and aliases) of one brand."""
    names = {fold_key(brand.name)} | {fold_key(a.text) for a in brand.aliases} | {fold_key(h) for h in brand.handles}
    products = set()
    for product in brand.products:
        products.add(fold_key(product.name))
        products.update(fold_key(a.text) for a in product.aliases)
    return names, products


def _known_surface(surface: str, names: set[str], products: set[str]) -> bool:
    folded = fold_key(surface)
    if folded in names or folded in products:
        return True
    return any(folded.endswith(end) and folded[: -len(end)] in products for end in _PLURAL)


@dataclass(frozen=True)
class CatalogNames:
    """What must be marked wherever it occurs: every catalogue name as the analyzer matches it, and
    every ambiguous name in any case and in the plural (the bird, the river, "doves")."""

    lexicon: Lexicon
    ambiguous: re.Pattern[str] | None


def catalog_names(catalog: Catalog) -> CatalogNames:
    words = sorted({n for b in catalog.brands if b.ambiguous for n in (b.name, *(a.text for a in b.aliases))},
                   key=len, reverse=True)
    pattern = (re.compile(r"(?<![\w@#&-])(?:" + "|".join(map(re.escape, words)) + r")(?:e?s)?(?![\w&-])", re.I)
               if words else None)
    return CatalogNames(brand_lexicon(catalog), pattern)


def unmarked_names(doc: BrandDoc, catalog: Catalog, names: CatalogNames) -> list[tuple[int, str]]:
    """(line, name) of every catalogue name in the text that no mark covers."""
    covered = sorted((g.start, g.end) for g in doc.gold)
    # every name the lexicon finds, those that end a longer name too: the writer marks them as no brand
    found = [(m.start, m.end) for m in names.lexicon.find(doc.text) if m.kind in EXPLICIT_KINDS]
    if names.ambiguous is not None:
        # A common word inside an opinion expression ("on a budget") cannot be marked, and the
        # analyzer, matching ambiguous names by case, never reads it as the brand.
        opinions = [(o.start, o.end) for o in doc.opinions]
        found += [(m.start(), m.end()) for m in names.ambiguous.finditer(doc.text)
                  if not any(s <= m.start() < e for s, e in opinions)]
    missing = {}
    for start, end in found:
        if not any(s < end and start < e for s, e in covered):
            missing[start] = doc.text[start:end]
    return [(doc.line_of(start), name) for start, name in sorted(missing.items())]


@dataclass
class CorpusCheck:
    counts: Counter = field(default_factory=Counter)
    genres: Counter = field(default_factory=Counter)
    words_by_genre: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    repeated_share: float = 0.0
    brands: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"counts": {k: self.counts[k] for k in COUNT_KEYS},
                "genres": {g: {"documents": self.genres[g], "words": self.words_by_genre[g]} for g in sorted(self.genres)},
                "brands": len(self.brands), "repeated_sentence_share": round(self.repeated_share, 4),
                "problems": self.problems}


def _turn_brands(doc: BrandDoc) -> list[tuple[int, int, set[str]]]:
    """(paragraph start, end, brands named in its speaker label) for every speaker-turn paragraph."""
    turns = []
    for start, end in paragraph_spans(doc.text):
        label = _TURN_LABEL.match(doc.text, start, end)
        if label:
            named = {g.brand for g in doc.gold
                     if g.kind == "explicit" and g.brand and start <= g.start and g.end <= label.end()}
            turns.append((start, end, named))
    return turns


def check_document(doc: BrandDoc, catalog: Catalog, result: CorpusCheck, names: CatalogNames | None = None) -> None:
    """Count one document into `result`, and append every convention it breaks to `result.problems`;
    with `names`, also every catalogue name left unmarked."""
    def problem(line: int, message: str) -> None:
        result.problems.append(f"{doc.name}:{line}: {message}")

    aspects = {a.id for a in catalog.aspects} | {OVERALL}
    by_id = {b.id: b for b in catalog.brands}
    catalogue_names = {name for b in catalog.brands for part in _surfaces(b) for name in part}
    ambiguous_names: set[str] = set()
    for brand in catalog.brands:
        if brand.ambiguous:
            ambiguous_names |= {fold_key(brand.name)} | {fold_key(a.text) for a in brand.aliases}
    words = word_count(doc.text)
    if doc.genre not in GENRES:
        problem(1, f"header genre {doc.genre!r}: expected `<!-- genre: G -->` with G one of: {', '.join(GENRES)}")
    if not MIN_WORDS <= words <= MAX_WORDS:
        problem(1, f"{words} words: a document has {MIN_WORDS} to {MAX_WORDS}")
    counts = result.counts
    counts["documents"] += 1
    counts["words"] += words
    counts["long_documents"] += words > LONG_WORDS
    result.genres[doc.genre or "?"] += 1
    result.words_by_genre[doc.genre or "?"] += words

    turns = _turn_brands(doc)
    named: set[str] = set()
    distant = distant_flags(doc)
    marked_spans = [(g.start, g.end) for g in doc.gold] + [(o.start, o.end) for o in doc.opinions]
    for g in doc.gold:
        _check_mark(doc, g, by_id, ambiguous_names, catalogue_names, turns, distant, problem, counts)
        if g.kind == "explicit" and g.brand:
            named.add(g.brand)
    for opinion in doc.opinions:
        counts["opinion_expressions"] += 1
        for j in opinion.judgements:
            counts["opinions"] += 1
            if j.brand not in by_id:
                problem(opinion.line, f"opinion brand {j.brand!r} is not in the catalogue")
            elif j.brand not in {g.brand for g in doc.gold if g.kind == "explicit"}:
                problem(opinion.line, f"opinion about {j.brand!r}, which the document never names")
            if j.aspect not in aspects:
                problem(opinion.line, f"aspect {j.aspect!r}: expected one of: {', '.join(sorted(aspects))}")
    if not MIN_BRANDS <= len(named) <= MAX_BRANDS:
        problem(1, f"{len(named)} brands named: a document names {MIN_BRANDS} to {MAX_BRANDS}")
    result.brands |= named
    for line, name in unmarked_names(doc, catalog, names) if names is not None else ():
        problem(line, f"{name!r} is a catalogue name: mark it [[{name}|brand]] or [[{name}|-]] "
                      "(a name inside an opinion expression: end the expression before it)")
    starts = sorted(marked_spans)
    for found in _DISTRACTOR.finditer(doc.text):
        if not any(s <= found.start() < e for s, e in starts):
            counts["distractors"] += 1
    counts["distractors"] += sum(1 for g in doc.gold if g.kind == "not_brand")


def _check_mark(doc, g: GoldSpan, by_id: dict[str, Brand], ambiguous_names, catalogue_names, turns, distant, problem, counts) -> None:  # type: ignore[no-untyped-def]
    surface = doc.text[g.start:g.end]
    brand = by_id.get(g.brand) if g.brand else None
    if g.brand and brand is None:
        problem(g.line, f"brand id {g.brand!r} is not in the catalogue")
        return
    if g.kind == "explicit":
        counts["explicit"] += 1
        names, products = _surfaces(brand)
        if not _known_surface(surface, names, products):
            problem(g.line, f"[[{surface}|{g.brand}]]: not a name, alias, product or handle of {g.brand!r} "
                            "in the catalogue")
        if surface.endswith(("'s", "’s")):
            problem(g.line, f"[[{surface}|...]]: the possessive 's stays outside the span")
        if brand.ambiguous and fold_key(surface) in ambiguous_names:
            counts["ambiguous_brand_uses"] += 1
    elif g.kind == "non_brand":
        counts["non_brand"] += 1
        if not _known_surface(surface, set(), catalogue_names):  # "pumas" for the animals too
            problem(g.line, f"[[{surface}|-]]: not a name in the catalogue")
    elif g.kind in ("pronoun", "nominal"):
        counts["implicit"] += 1
        counts[g.kind] += 1
        counts["distant"] += distant.get((g.start, g.end), False)
        if g.kind == "nominal" and surface.split()[0].lower() not in DETERMINERS:
            problem(g.line, f"{{{{{surface}|{g.brand}}}}}: neither a third-person pronoun nor a nominal "
                            f"that starts with a determiner ({', '.join(sorted(DETERMINERS))})")
    elif g.kind == "first_person":
        counts["first_person"] += 1
        inside = [brands for start, end, brands in turns if start <= g.start < end]
        if not inside or g.brand not in inside[0]:
            problem(g.line, f"{{{{{surface}|{g.brand}}}}}: first person outside a speaker turn whose label "
                            f"names {g.brand!r}")


def _repeated_share(docs: list[BrandDoc]) -> float:
    """Share of sentences of REPEAT_WORDS+ words that appear in more than one document."""
    seen: dict[str, set[str]] = defaultdict(set)
    total = 0
    for doc in docs:
        for sentence in _SENTENCE.findall(doc.text):
            words = _WORD.findall(sentence.lower())
            if len(words) >= REPEAT_WORDS:
                total += 1
                seen[" ".join(words)].add(doc.name)
    repeated = sum(len(names) for names in seen.values() if len(names) > 1)
    return repeated / total if total else 0.0


def check_corpus(folder: str | Path) -> CorpusCheck:
    """Validate every document of `folder` against its catalog.yaml; count what the folder holds."""
    folder = Path(folder)
    if not (folder / "catalog.yaml").is_file():
        raise BrandscanError(f"{folder}: no catalog.yaml here")
    catalog = load_catalog(folder / "catalog.yaml")
    names = catalog_names(catalog)
    result = CorpusCheck()
    docs = []
    for path in brand_doc_files(folder):
        try:
            doc = parse_brand_doc(str(path), path.read_text(encoding="utf-8"))
        except (BrandscanError, UnicodeDecodeError) as error:
            result.problems.append(str(error) if isinstance(error, BrandscanError) else f"{path}: {error}")
            continue
        docs.append(doc)
        check_document(doc, catalog, result, names)
    result.repeated_share = _repeated_share(docs)
    if result.repeated_share > MAX_REPEATED_SHARE:
        result.problems.append(f"{folder}: {result.repeated_share:.1%} of sentences of {REPEAT_WORDS}+ words "
                               f"appear in more than one document (at most {MAX_REPEATED_SHARE:.0%})")
    return result
