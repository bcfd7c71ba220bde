"""GAP coreference (Webster et al., 2018): TSV rows -> LinkDocuments of two named entities."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.datasets.coref import CharSpan, LinkDocument, LinkQuery

_COLUMNS = ["ID", "Text", "Pronoun", "Pronoun-offset", "A", "A-offset", "A-coref", "B", "B-offset", "B-coref"]
MASCULINE = frozenset({"he", "him", "his", "himself"})


@dataclass(frozen=True)
class GapRow:
    id: str
    text: str
    pronoun: str
    pronoun_offset: int
    a: str
    a_offset: int
    a_coref: bool
    b: str
    b_offset: int
    b_coref: bool

    @property
    def gender(self) -> str:
        return "M" if self.pronoun.lower() in MASCULINE else "F"


def _bool(value: str, path: Path, line: int) -> bool:
    if value.upper() not in ("TRUE", "FALSE"):
        raise BrandscanError(f"{path}:{line}: expected TRUE or FALSE, got {value!r}")
    return value.upper() == "TRUE"


def read_gap(path: str | Path) -> tuple[GapRow, ...]:
    """Rows of a GAP TSV file (header, no quoting); offsets are checked against the text."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise BrandscanError(f"{path}: cannot read GAP file: {error.strerror}") from error
    rows: list[GapRow] = []
    with handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or header[: len(_COLUMNS)] != _COLUMNS:
            raise BrandscanError(f"{path}:1: not a GAP file: expected columns {', '.join(_COLUMNS)}")
        for line, cells in enumerate(reader, start=2):
            if len(cells) < len(_COLUMNS):
                raise BrandscanError(f"{path}:{line}: expected {len(_COLUMNS)} columns, got {len(cells)}")
            try:
                row = GapRow(
                    cells[0], cells[1], cells[2], int(cells[3]), cells[4], int(cells[5]),
                    _bool(cells[6], path, line), cells[7], int(cells[8]), _bool(cells[9], path, line),
                )
            except ValueError as error:
                raise BrandscanError(f"{path}:{line}: bad offset: {error}") from error
            for name, offset in ((row.pronoun, row.pronoun_offset), (row.a, row.a_offset), (row.b, row.b_offset)):
                if row.text[offset:offset + len(name)] != name:
                    raise BrandscanError(f"{path}:{line}: {name!r} is not at offset {offset}")
            rows.append(row)
    return tuple(rows)


def _occurrences(text: str, name: str, offset: int, other: CharSpan) -> tuple[CharSpan, ...]:
    # The annotated occurrence plus every other whole-word occurrence of the same name: brand
    # documents give every explicit mention as an anchor, so the model learns to use them all.
    spans = {CharSpan(offset, offset + len(name))}
    for found in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text):
        span = CharSpan(found.start(), found.end())
        if not (span.start < other.end and other.start < span.end):
            spans.add(span)
    return tuple(sorted(spans, key=lambda s: s.start))


def gap_to_link(row: GapRow) -> LinkDocument:
    a0 = CharSpan(row.a_offset, row.a_offset + len(row.a))
    b0 = CharSpan(row.b_offset, row.b_offset + len(row.b))
    entities = (_occurrences(row.text, row.a, row.a_offset, b0), _occurrences(row.text, row.b, row.b_offset, a0))
    gold = 0 if row.a_coref else 1 if row.b_coref else -1
    end = row.pronoun_offset + len(row.pronoun)
    query = LinkQuery(row.pronoun_offset, end, "pronoun", (0, 1), gold, tag=row.gender)
    return LinkDocument(row.id, row.text, entities, (query,), source="gap")
