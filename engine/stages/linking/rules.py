"""The decisions linking makes by rule, each a named function beside its constant.

The learned head (head.py) ranks brands for pronouns and nominals. These rules cover what no openly
licensed training data teaches it; each says why beside its constant.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from brandscan.engine.catalog import Catalog
from brandscan.engine.report import WeightedSpan
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.mentions import ExplicitMention

# An ambiguous alias ("Apple", "Amazon") keeps its brand sense when its probability
# hits / (hits + 1) reaches SENSE_THRESHOLD: one hit of the brand's context words, category nouns or
# unambiguous names in the same passage. Coreference corpora have no brand senses to learn from.
SENSE_THRESHOLD = 0.5
CONTEXT_EVIDENCE_SPANS = 5  # context words shown as a sense decision's evidence
# First-person plural inside a brand's speaker turn or under `--author` is that brand: the turn
# label or the author option is the evidence, so the link is certain.
FIRST_PERSON_PROBABILITY = 1.0
# A pronoun whose number disagrees with the brand's catalogue number ("they" for a singular brand
# that the catalogue does not mark plural) loses NUMBER_PENALTY logits: coreference corpora rarely
# pair a company with "they", so the head cannot learn how a catalogue's number changes it.
NUMBER_PENALTY = 1.0
# A category or product nominal ("the carrier", "the jacket") whose noun the catalogue gives to a
# brand gains FORM_BONUS logits for that brand: the catalogue says the noun names it, which none of
# the open coreference sets can teach (their "the company" is rarely a named organisation's).
FORM_BONUS = 1.0
# A pronoun or nominal gains SALIENCE_BONUS logits for a brand that is the only one of its candidates
# named before it. The head learned its "no entity" prior on coreference corpora, where "it"/"they"
# mostly point at unnamed things and two or more named people compete; in a brand document the lone
# brand named so far is the usual referent, however far back. The value was set on the annotated
# brand documents (tests/fixtures/brands_eval), which are therefore development, not test, figures.
SALIENCE_BONUS = 1.5


def brand_words(catalog: Catalog, brand_id: str) -> set[str]:
    """Lower-cased words that speak for a brand's sense: context words, nouns, category, products."""
    brand = catalog.brand(brand_id)
    words = {w.lower() for w in brand.context} | {n.lower() for n in brand.nouns}
    if brand.category:
        words.add(brand.category.lower())
    for product in brand.products:
        words.add(product.name.lower())
    return words


def _word_pattern(word: str) -> str:
    return r"(?<!\w)" + re.escape(word) + r"(?!\w)"


def sense_hits(text: str, passage: tuple[int, int], mention: ExplicitMention, catalog: Catalog,
               explicit: Sequence[ExplicitMention]) -> int:
    """Evidence for the brand sense of an ambiguous alias: context words and unambiguous mentions."""
    words = brand_words(catalog, mention.brand)
    chunk = text[passage[0]:passage[1]].lower()
    hits = sum(1 for w in words if re.search(_word_pattern(w), chunk))
    hits += sum(1 for m in explicit if m.brand == mention.brand and not m.ambiguous
                and passage[0] <= m.start < passage[1])
    return hits


def sense_probability(hits: int) -> float:
    """Probability of the brand sense from its hits: hits / (hits + 1); at SENSE_THRESHOLD or above
    the alias counts as the brand."""
    return hits / (hits + 1)


def context_evidence(text: str, passage: tuple[int, int], mention: ExplicitMention,
                     catalog: Catalog) -> tuple[WeightedSpan, ...]:
    """The brand's context words found in the passage (the first CONTEXT_EVIDENCE_SPANS), equal weights."""
    spans = []
    for w in sorted(brand_words(catalog, mention.brand)):
        for found in re.finditer(_word_pattern(w), text[passage[0]:passage[1]], re.IGNORECASE):
            spans.append((passage[0] + found.start(), passage[0] + found.end()))
    spans = sorted(set(spans))[:CONTEXT_EVIDENCE_SPANS]
    return tuple(WeightedSpan(s, e, text[s:e], 1.0 / len(spans)) for s, e in spans)


def number_penalty(candidate: Candidate, numbers: Sequence[str]) -> np.ndarray:
    """(E,) logit changes for a pronoun: -NUMBER_PENALTY for each brand whose catalogue number
    (`numbers`, one per entity of the query) differs from the pronoun's; zeros for other kinds."""
    out = np.zeros(len(numbers), dtype=np.float32)
    if candidate.kind == "pronoun":
        out[[i for i, number in enumerate(numbers) if number != candidate.number]] = -NUMBER_PENALTY
    return out


def form_bonus(candidate: Candidate, entities: int) -> np.ndarray:
    """(E,) logit changes for a nominal whose noun the catalogue gives to brands (candidate.brands
    non-empty; its entities are those brands only): +FORM_BONUS each. Zeros for pronouns."""
    bonus = FORM_BONUS if candidate.kind != "pronoun" and candidate.brands else 0.0
    return np.full(entities, bonus, dtype=np.float32)


def salience_bonus(named_before: Sequence[bool]) -> np.ndarray:
    """(E,) logit changes: +SALIENCE_BONUS for the only entity named before the candidate, if one is."""
    out = np.zeros(len(named_before), dtype=np.float32)
    if sum(named_before) == 1:
        out[list(named_before).index(True)] = SALIENCE_BONUS
    return out
