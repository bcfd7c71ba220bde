"""Candidates for linking: the words that may refer to a brand without naming it.

- third-person pronouns (it/its/itself, they/them/their/theirs/themselves);
- first-person plural (we/our/us...) where text is written or spoken for a brand: a transcript turn
  whose speaker label names a brand ("Jane Roe, CFO, Acme:"), or a whole document with `--author`;
- generic nominals ("the company"), category nominals from each brand's `nouns` ("the airline") and
  product nominals from each product's `noun` ("the phone");
- explicit mentions of ambiguous aliases ("Apple", "Amazon"): a sense decision, brand or not.

Everything here is regular expressions over the text, linear in its length; which brand (if any)
a candidate refers to is linking's job. `brands` narrows the choice where the form itself does:
a category nominal can only be a brand of that category, "we" only the speaker's brand.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.mentions import ExplicitMention

CandidateKind = Literal["pronoun", "nominal", "product", "alias"]

SINGULAR_PRONOUNS = ("it", "its", "itself")
PLURAL_PRONOUNS = ("they", "them", "their", "theirs", "themselves")
FIRST_PERSON = ("we", "us", "our", "ours", "ourselves")
GENERIC_NOUNS = ("company", "firm", "brand", "group", "business")
DETERMINERS = ("the", "this", "that")

_PRONOUN = re.compile(r"(?<![\w'’-])(" + "|".join(SINGULAR_PRONOUNS + PLURAL_PRONOUNS) + r")(?![\w-])", re.I)
_FIRST = re.compile(r"(?<![\w'’-])(" + "|".join(FIRST_PERSON) + r")(?![\w-])", re.I)
# A speaker label at the start of a line: "Jane Roe, CFO, Acme:" / "ACME CEO:" (at most ~80 chars).
_TURN = re.compile(r"^[ \t]*([A-Z][^\n:]{0,80}?):[ \t]", re.M)


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    text: str  # == document[start:end]
    kind: CandidateKind
    number: str | None  # "singular" | "plural" for pronouns and nominals; None for aliases
    brands: tuple[str, ...] = ()  # the only brands its form allows; () = any brand in the document
    person: int = 3  # 1 for we/our/us
    noun: str | None = None  # head noun of a nominal ("airline")
    explicit: ExplicitMention | None = None  # the ambiguous explicit mention, for kind "alias"


@dataclass(frozen=True)
class SpeakerTurn:
    label_start: int
    label_end: int
    body_start: int
    body_end: int
    brand: str | None  # the brand the speaker's label names, if any


def speaker_turns(text: str, explicit: Sequence[ExplicitMention]) -> tuple[SpeakerTurn, ...]:
    """Transcript turns: a `Label:` at a line start runs to the next label or the end."""
    found = list(_TURN.finditer(text))
    turns = []
    for i, match in enumerate(found):
        body_end = found[i + 1].start() if i + 1 < len(found) else len(text)
        inside = [m for m in explicit if match.start(1) <= m.start and m.end <= match.end(1) and not m.ambiguous]
        # The affiliation is usually last ("Jane Roe, CFO, Acme"): take the last brand named.
        brand = inside[-1].brand if inside else None
        turns.append(SpeakerTurn(match.start(1), match.end(1), match.end(), body_end, brand))
    return tuple(turns)


def _overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def find_candidates(
    text: str, explicit: Sequence[ExplicitMention], catalog: Catalog, author: str | None = None
) -> tuple[Candidate, ...]:
    """Every candidate of the document, in text order (explicit spans are never candidates too)."""
    taken = [(m.start, m.end) for m in explicit]
    out: list[Candidate] = []
    for match in _PRONOUN.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        word = match.group(1).lower()
        number = "singular" if word in SINGULAR_PRONOUNS else "plural"
        out.append(Candidate(match.start(), match.end(), match.group(1), "pronoun", number))

    out.extend(_first_person(text, explicit, taken, author))
    out.extend(_nominals(text, catalog, taken))
    for m in explicit:
        if m.ambiguous:
            out.append(Candidate(m.start, m.end, m.text, "alias", None, (m.brand,), explicit=m))
    out.sort(key=lambda c: (c.start, c.end))
    return tuple(out)


def _first_person(
    text: str, explicit: Sequence[ExplicitMention], taken: list[tuple[int, int]], author: str | None
) -> list[Candidate]:
    turns = speaker_turns(text, explicit)
    out = []
    for match in _FIRST.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        turn = next((t for t in turns if t.body_start <= match.start() < t.body_end), None)
        # Inside a turn the speaker's affiliation decides (an analyst's "we" is not the company's);
        # outside any turn, the document's author does.
        brand = turn.brand if turn is not None else author
        if brand is None:
            continue
        out.append(Candidate(match.start(), match.end(), match.group(1), "pronoun", "plural", (brand,), person=1))
    return out


def _nominals(text: str, catalog: Catalog, taken: list[tuple[int, int]]) -> list[Candidate]:
    # noun -> (kind, brands); generic nouns fit any brand, category and product nouns only theirs.
    nouns: dict[str, tuple[CandidateKind, list[str]]] = {noun: ("nominal", []) for noun in GENERIC_NOUNS}
    for brand in catalog.brands:
        for noun in brand.nouns:
            kind, brands = nouns.setdefault(noun.lower(), ("nominal", []))
            if kind == "nominal" and noun.lower() not in GENERIC_NOUNS:
                brands.append(brand.id)
        for product in brand.products:
            if product.noun:
                kind, brands = nouns.setdefault(product.noun.lower(), ("product", []))
                if kind == "product":
                    brands.append(brand.id)
    if not nouns:
        return []
    alternatives = "|".join(re.escape(n) for n in sorted(nouns, key=len, reverse=True))
    pattern = re.compile(
        r"(?<![\w-])(?:" + "|".join(DETERMINERS) + r")\s+(" + alternatives + r")(?![\w-])", re.I
    )
    out = []
    for match in pattern.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        noun = match.group(1).lower()
        kind, brands = nouns[noun]
        out.append(
            Candidate(match.start(), match.end(), match.group(0), kind, "singular", tuple(sorted(set(brands))),
                      noun=noun)
        )
    return out
