"""Annotated brand documents (docs/brand-eval-format.md): the inline marks, parsed.

    [[Delta|delta]]                explicit mention of brand `delta`
    [[Apple|-]]                    an ambiguous brand's name used in another sense (must be rejected)
    {{it|delta}}                   implicit mention (pronoun, nominal, first person in a turn) of `delta`
    {{it|-}}                       a candidate that refers to no brand (must stay unlinked)
    <<a joy to use|delta:overall:pos>>            an opinion: brand, aspect, polarity
    <<beats|x:performance:pos|y:performance:neg>>  one expression judging two brands

Marks are stripped to give the plain text the analyzer sees; every offset refers to that text.
Leading lines `<!-- key: value -->` are a header (genre, author) and are not part of the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from brandscan.engine.errors import BrandscanError
from brandscan.engine.stages.candidates import FIRST_PERSON as ENGINE_FIRST_PERSON
from brandscan.engine.stages.candidates import PLURAL_PRONOUNS, SINGULAR_PRONOUNS

GoldKind = Literal["explicit", "non_brand", "pronoun", "nominal", "first_person", "not_brand"]
Polarity = Literal["pos", "neg", "neu"]
POLARITY_MARKS: tuple[str, ...] = ("pos", "neg", "neu")
OVERALL = "overall"  # the aspect of a verdict on the whole brand

# The pronouns are the analyzer's candidate pronouns; the gold's determiners are wider than the ones
# the analyzer's nominal candidates start with today (docs/brand-annotation.md defines them).
THIRD_PERSON = frozenset(SINGULAR_PRONOUNS + PLURAL_PRONOUNS)
FIRST_PERSON = frozenset(ENGINE_FIRST_PERSON)
DETERMINERS = frozenset({"the", "this", "that", "these", "those", "my", "our", "your", "his", "her",
                         "their", "its"})

_EXPLICIT = r"\[\[([^\[\]{}<>|\n]+)\|([^\[\]{}<>|\n]+)\]\]"
_IMPLICIT = r"\{\{([^\[\]{}<>|\n]+)\|([^\[\]{}<>|\n]+)\}\}"
_OPINION = r"<<([^\[\]{}<>|\n]+)\|([^\[\]{}<>\n]+)>>"
_MARK = re.compile(f"{_EXPLICIT}|{_IMPLICIT}|{_OPINION}")
_LEFTOVER = re.compile(r"\[\[|\]\]|\{\{|\}\}|<<|>>")
_HEADER = re.compile(r"<!--\s*(\w+)\s*:\s*([^>]*?)\s*-->[ \t]*\n")
_ID = re.compile(r"[\w.-]+")


@dataclass(frozen=True)
class GoldSpan:
    """One marked mention; `brand` is None for `-` (not a brand)."""

    start: int
    end: int
    brand: str | None
    kind: GoldKind
    line: int  # line of the mark in the annotated file, for messages

    @property
    def implicit(self) -> bool:
        return self.kind in ("pronoun", "nominal", "first_person", "not_brand")


@dataclass(frozen=True)
class Judgement:
    brand: str
    aspect: str  # a catalogue aspect id, or OVERALL
    polarity: Polarity


@dataclass(frozen=True)
class GoldOpinion:
    start: int
    end: int
    judgements: tuple[Judgement, ...]
    line: int


@dataclass(frozen=True)
class BrandDoc:
    name: str
    text: str
    gold: tuple[GoldSpan, ...]
    opinions: tuple[GoldOpinion, ...] = ()
    author: str | None = None
    genre: str | None = None
    first_line: int = 1  # line of the annotated file where the text starts (after the header)

    def line_of(self, pos: int) -> int:
        """Line in the annotated file of text position `pos` (marks never span lines)."""
        return self.first_line + self.text.count("\n", 0, pos)


def implicit_kind(surface: str) -> GoldKind:
    """The type of an implicit mark, from its surface (docs/brand-annotation.md)."""
    words = surface.lower().split()
    if len(words) == 1 and words[0] in FIRST_PERSON:
        return "first_person"
    if len(words) == 1 and words[0] in THIRD_PERSON:
        return "pronoun"
    return "nominal"


def _fail(source: str, marked: str, pos: int, message: str) -> BrandscanError:
    line = marked.count("\n", 0, pos) + 1
    column = pos - (marked.rfind("\n", 0, pos) + 1) + 1
    return BrandscanError(f"{source}:{line}:{column}: {message}")


def _judgements(source: str, marked: str, pos: int, label: str) -> tuple[Judgement, ...]:
    found = []
    for part in label.split("|"):
        fields = [f.strip() for f in part.split(":")]
        if len(fields) != 3 or not _ID.fullmatch(fields[0]) or not _ID.fullmatch(fields[1]):
            raise _fail(source, marked, pos, f"bad opinion label {part!r}: expected brand:aspect:polarity")
        if fields[2] not in POLARITY_MARKS:
            raise _fail(source, marked, pos,
                        f"bad polarity {fields[2]!r}: expected one of: {', '.join(POLARITY_MARKS)}")
        found.append(Judgement(fields[0], fields[1], fields[2]))  # type: ignore[arg-type]
    return tuple(found)


def parse_brand_doc(source: str, marked: str) -> BrandDoc:
    """Strip the marks of one annotated document; BrandscanError (file:line:col) on a bad mark."""
    header: dict[str, str] = {}
    offset = 0
    while found := _HEADER.match(marked, offset):
        header[found.group(1).lower()] = found.group(2)
        offset = found.end()
    pieces: list[str] = []
    gold: list[GoldSpan] = []
    opinions: list[GoldOpinion] = []
    cursor, out_len = offset, 0
    for match in _MARK.finditer(marked, offset):
        between = marked[cursor:match.start()]
        if leftover := _LEFTOVER.search(between):
            raise _fail(source, marked, cursor + leftover.start(),
                        f"unbalanced or nested mark {leftover.group()!r}")
        pieces.append(between)
        out_len += len(between)
        line = marked.count("\n", 0, match.start()) + 1
        if match.group(5) is not None:
            surface = match.group(5)
            opinions.append(GoldOpinion(out_len, out_len + len(surface),
                                        _judgements(source, marked, match.start(), match.group(6)), line))
        else:
            surface = match.group(1) or match.group(3)
            label = (match.group(2) or match.group(4)).strip()
            if label != "-" and not _ID.fullmatch(label):
                raise _fail(source, marked, match.start(), f"bad label {label!r}: expected a brand id or '-'")
            brand = None if label == "-" else label
            if match.group(1) is not None:
                kind: GoldKind = "explicit" if brand else "non_brand"
            else:
                kind = implicit_kind(surface) if brand else "not_brand"
            gold.append(GoldSpan(out_len, out_len + len(surface), brand, kind, line))
        if surface != surface.strip():
            raise _fail(source, marked, match.start(), f"mark {surface!r} starts or ends with a space")
        pieces.append(surface)
        out_len += len(surface)
        cursor = match.end()
    if leftover := _LEFTOVER.search(marked, cursor):
        raise _fail(source, marked, leftover.start(), f"unbalanced or nested mark {leftover.group()!r}")
    pieces.append(marked[cursor:])
    return BrandDoc(source, "".join(pieces), tuple(gold), tuple(opinions), header.get("author"),
                    header.get("genre"), marked.count("\n", 0, offset) + 1)


def brand_doc_files(folder: str | Path) -> list[Path]:
    """The annotated documents of a folder: every *.md but README.md, sorted by name."""
    folder = Path(folder)
    files = [f for f in sorted(folder.glob("*.md")) if f.name != "README.md"]
    if not files:
        raise BrandscanError(f"{folder}: no annotated brand documents (*.md) here")
    return files


def read_brand_docs(folder: str | Path) -> tuple[BrandDoc, ...]:
    return tuple(parse_brand_doc(str(f), f.read_text(encoding="utf-8")) for f in brand_doc_files(folder))
