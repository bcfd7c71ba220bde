"""LitBank coreference from its brat_tsv view: tokenized sentences plus typed mentions.

Sentences are joined into one paragraph, so the passage splitter packs them into passages of up to
510 word pieces at sentence boundaries, as it would a long paragraph of a real document.
"""
from __future__ import annotations

from pathlib import Path

from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention

_KINDS = {"PROP": "proper", "NOM": "nominal", "PRON": "pronoun"}


def read_litbank_document(txt: Path, ann: Path) -> CorefDocument:
    starts: list[list[int]] = []
    ends: list[list[int]] = []
    pieces: list[str] = []
    cursor = 0
    for sentence in txt.read_text(encoding="utf-8").split("\n"):
        words = sentence.split(" ") if sentence else []
        row_s, row_e = [], []
        for word in words:
            if pieces:
                pieces.append(" ")
                cursor += 1
            row_s.append(cursor)
            pieces.append(word)
            cursor += len(word)
            row_e.append(cursor)
        starts.append(row_s)
        ends.append(row_e)
    spans: dict[str, tuple[int, int, str]] = {}
    entity_of: dict[str, str] = {}
    for line_no, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), start=1):
        cells = line.split("\t")
        try:
            if cells[0] == "MENTION":
                s1, t1, s2, t2 = (int(c) for c in cells[2:6])
                spans[cells[1]] = (starts[s1][t1], ends[s2][t2], _KINDS.get(cells[8], "nominal"))
            elif cells[0] == "COREF":
                entity_of[cells[1]] = cells[2]
        except (IndexError, ValueError) as error:
            raise BrandscanError(f"{ann}:{line_no}: unreadable row: {error}") from error
    mentions = [
        GoldMention(start, end, entity_of.get(mid, mid), kind)  # type: ignore[arg-type]
        for mid, (start, end, kind) in spans.items()
    ]
    mentions.sort(key=lambda m: (m.start, -m.end))
    return CorefDocument(txt.stem, "".join(pieces), tuple(mentions), "fiction")


def read_litbank(root: str | Path, split: str) -> tuple[CorefDocument, ...]:
    """LitBank documents of one split (train|dev)."""
    folder = Path(root) / "brat_tsv" / split
    if not folder.is_dir():
        raise BrandscanError(f"{folder}: not a LitBank folder (expected brat_tsv/{split}/ under {root})")
    return tuple(read_litbank_document(txt, txt.with_suffix(".ann")) for txt in sorted(folder.glob("*.txt")))
