"""GUM coreference: CoNLL-U (tokens, spacing, paragraphs, syntax) aligned with conll_gum (entities).

The two views hold the same token sequence, so mentions from `conll_gum` are placed on the text
rebuilt from CoNLL-U by token index. A mention's kind comes from its syntactic head (the token whose
head lies outside the span): PROPN -> proper, PRON -> pronoun, anything else -> nominal.
"""
from __future__ import annotations

import re
from pathlib import Path

from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention

# Genres whose text is CC-BY (README / LICENSE.txt): the only ones allowed to train shipped weights.
CC_BY_GENRES = ("academic", "court", "interview", "news")
_BRACKET = re.compile(r"\([^()]+\)|\([^()]+|[^()]+\)")
_KEY = re.compile(r"^\(?([a-z]+-\d+)")


class _Token:
    __slots__ = ("start", "end", "upos", "head")

    def __init__(self, start: int, end: int, upos: str, head: int) -> None:
        self.start, self.end, self.upos, self.head = start, end, upos, head


def _read_conllu(path: Path) -> tuple[str, list[_Token]]:
    pieces: list[str] = []
    tokens: list[_Token] = []
    cursor = 0
    sentence_base = 0  # global index of the current sentence's token 1, minus 1
    space_after = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# newpar") and not raw.startswith("# newpar_"):
            if tokens:
                pieces.append("\n\n")
                cursor += 2
                space_after = False
            continue
        if raw.startswith("#"):
            continue
        if not raw.strip():
            sentence_base = len(tokens)
            continue
        cells = raw.split("\t")
        if "-" in cells[0] or "." in cells[0]:
            continue  # multiword ranges and empty nodes are not tokens of the coref view
        if space_after:
            pieces.append(" ")
            cursor += 1
        form = cells[1]
        head = int(cells[6]) if cells[6].isdigit() else 0
        tokens.append(_Token(cursor, cursor + len(form), cells[3], sentence_base + head - 1 if head else -1))
        pieces.append(form)
        cursor += len(form)
        space_after = "SpaceAfter=No" not in cells[9]
    return "".join(pieces), tokens


def _read_spans(path: Path, n_tokens: int) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    open_: dict[str, list[int]] = {}
    index = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        cells = raw.split("\t")
        index = int(cells[0])
        label = cells[2] if len(cells) > 2 else "_"
        if label == "_":
            continue
        for item in _BRACKET.findall(label):
            key_match = _KEY.match(item)
            if key_match is None:
                raise BrandscanError(f"{path}: token {index}: unreadable entity label {item!r}")
            key = key_match.group(1)
            if item.startswith("(") and item.endswith(")"):
                spans.append((index, index + 1, key))
            elif item.startswith("("):
                open_.setdefault(key, []).append(index)
            else:
                if not open_.get(key):
                    raise BrandscanError(f"{path}: token {index}: {item!r} closes nothing")
                spans.append((open_[key].pop(), index + 1, key))
    if index + 1 != n_tokens:
        raise BrandscanError(f"{path}: {index + 1} tokens, but the CoNLL-U file has {n_tokens}")
    return spans


def _kind(tokens: list[_Token], lo: int, hi: int) -> str:
    head = next((i for i in range(lo, hi) if not lo <= tokens[i].head < hi), lo)
    upos = tokens[head].upos
    return "proper" if upos == "PROPN" else "pronoun" if upos == "PRON" else "nominal"


def read_gum_document(conllu: Path, conll: Path, genre: str = "") -> CorefDocument:
    text, tokens = _read_conllu(conllu)
    mentions = [
        GoldMention(tokens[lo].start, tokens[hi - 1].end, key, _kind(tokens, lo, hi))  # type: ignore[arg-type]
        for lo, hi, key in _read_spans(conll, len(tokens))
    ]
    mentions.sort(key=lambda m: (m.start, -m.end))
    return CorefDocument(conllu.stem, text, tuple(mentions), genre)


def gum_genres(root: Path) -> dict[str, str]:
    table = root / "documents.tsv"
    genres: dict[str, str] = {}
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) >= 3:
            genres[cells[0]] = cells[2]
    return genres


def read_gum(root: str | Path, split: str, genres: tuple[str, ...] | None = None) -> tuple[CorefDocument, ...]:
    """GUM documents of one split (train|dev), optionally only the given genres."""
    root = Path(root)
    folder = root / "conllu" / split
    if not folder.is_dir():
        raise BrandscanError(f"{folder}: not a GUM folder (expected conllu/{split}/ under {root})")
    known = gum_genres(root) if (root / "documents.tsv").exists() else {}
    docs = []
    for conllu in sorted(folder.glob("*.conllu")):
        genre = known.get(conllu.stem, conllu.stem.split("_")[1] if "_" in conllu.stem else "")
        if genres is not None and genre not in genres:
            continue
        conll = root / "conll_gum" / split / f"{conllu.stem}.conll"
        docs.append(read_gum_document(conllu, conll, genre))
    return tuple(docs)
