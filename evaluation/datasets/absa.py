"""Aspect-term sentiment data: readers for MAMS XML, SemEval-2014 XML and JSONL, and the figures.

All readers give the same unit, `AbsaSentence`: a sentence text with its aspect terms as character
spans `[start, end)` into that text and a polarity each. "conflict" terms (SemEval-2014) are dropped
by default, as the standard 3-class evaluation does.

The SemEval-2014 task has no official development split, so `is_dev_id` carves one out
deterministically: a sentence is dev when md5(its id) % 10 == 0. That is the rule behind the
`suggested_dev` flag of the shared JSONL files, applied to the XML too, so both formats split alike.
"""
from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from brandscan.engine.errors import BrandscanError
from brandscan.engine.report import HEAD_LABELS

LABEL_OF: dict[str, int] = {p: i for i, p in enumerate(HEAD_LABELS)}

Split = Literal["all", "train", "dev"]


class DatasetError(BrandscanError):
    """An ABSA data file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class AspectTerm:
    term: str
    start: int  # character offset into AbsaSentence.text
    end: int
    polarity: str  # one of HEAD_LABELS, or "conflict" when kept


@dataclass(frozen=True)
class AbsaSentence:
    id: str
    text: str
    terms: tuple[AspectTerm, ...]


def is_dev_id(sentence_id: str) -> bool:
    """The deterministic SemEval-2014 dev carve-out: md5(id) % 10 == 0 (about one sentence in ten)."""
    return int(hashlib.md5(sentence_id.encode("utf-8")).hexdigest(), 16) % 10 == 0


def _check_term(path: Path, sid: str, text: str, term: AspectTerm) -> None:
    if not (0 <= term.start < term.end <= len(text)) or text[term.start : term.end] != term.term:
        raise DatasetError(
            f"{path}: sentence {sid}: aspect term {term.term!r} does not match text[{term.start}:{term.end}]"
        )


def _keep(polarity: str, path: Path, sid: str, keep_conflict: bool) -> bool:
    if polarity == "conflict":
        return keep_conflict
    if polarity not in LABEL_OF:
        raise DatasetError(
            f"{path}: sentence {sid}: unknown polarity {polarity!r}; expected one of: "
            + ", ".join(HEAD_LABELS + ("conflict",))
        )
    return True


def read_xml(path: Path, *, keep_conflict: bool = False) -> list[AbsaSentence]:
    """MAMS ATSA or SemEval-2014 XML. MAMS sentences have no ids: they get their 0-based index."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise DatasetError(f"{path}: cannot read XML: {error}") from None
    sentences = []
    for index, node in enumerate(root.iter("sentence")):
        sid = node.get("id") or str(index)
        text = node.findtext("text")
        if text is None:
            raise DatasetError(f"{path}: sentence {sid} has no <text>")
        terms = []
        for t in node.iter("aspectTerm"):
            polarity = t.get("polarity", "")
            if not _keep(polarity, path, sid, keep_conflict):
                continue
            try:
                term = AspectTerm(t.get("term", ""), int(t.get("from", "")), int(t.get("to", "")), polarity)
            except ValueError:
                raise DatasetError(f"{path}: sentence {sid}: aspect term without integer from/to") from None
            _check_term(path, sid, text, term)
            terms.append(term)
        sentences.append(AbsaSentence(sid, text, tuple(terms)))
    return sentences


def read_jsonl(path: Path, *, keep_conflict: bool = False) -> list[AbsaSentence]:
    """SemEval-2014 style JSONL: {"id", "text", "aspect_terms": [{"term", "from", "to", "polarity"}]}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error}") from None
    sentences = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            sid = str(record.get("id", number - 1))
            text = record["text"]
            raw_terms = record.get("aspect_terms", [])
        except (json.JSONDecodeError, KeyError, AttributeError) as error:
            raise DatasetError(f"{path}:{number}: not an ABSA record: {error}") from None
        terms = []
        for t in raw_terms:
            polarity = t.get("polarity", "")
            if not _keep(polarity, path, sid, keep_conflict):
                continue
            term = AspectTerm(t.get("term", ""), int(t.get("from", -1)), int(t.get("to", -1)), polarity)
            _check_term(path, sid, text, term)
            terms.append(term)
        sentences.append(AbsaSentence(sid, text, tuple(terms)))
    return sentences


def read_absa(path: Path | str, *, split: Split = "all", keep_conflict: bool = False) -> list[AbsaSentence]:
    """Read any supported file by its suffix; `split` applies the md5 dev carve-out ("all" keeps all)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xml":
        sentences = read_xml(path, keep_conflict=keep_conflict)
    elif suffix in (".jsonl", ".json"):
        sentences = read_jsonl(path, keep_conflict=keep_conflict)
    else:
        raise DatasetError(f"{path}: unknown ABSA format {suffix!r}; expected one of: .xml, .jsonl")
    if split == "all":
        return sentences
    want_dev = split == "dev"
    return [s for s in sentences if is_dev_id(s.id) == want_dev]


def count_terms(sentences: Iterable[AbsaSentence]) -> dict[str, int]:
    """Aspect terms by polarity, plus "total"."""
    counts = {p: 0 for p in HEAD_LABELS}
    for s in sentences:
        for t in s.terms:
            counts[t.polarity] = counts.get(t.polarity, 0) + 1
    counts["total"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class Figures:
    """3-class figures: accuracy and macro-F1 in percent, per-class F1, and the confusion matrix."""

    n: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    confusion: tuple[tuple[int, ...], ...]  # rows: gold, columns: predicted, both in HEAD_LABELS order


def polarity_figures(gold: Sequence[str], predicted: Sequence[str]) -> Figures:
    """Accuracy and macro-F1 (mean of the three per-class F1, a class with no support scoring 0)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    k = len(HEAD_LABELS)
    confusion = [[0] * k for _ in range(k)]
    for g, p in zip(gold, predicted):
        confusion[LABEL_OF[g]][LABEL_OF[p]] += 1
    n = len(gold)
    correct = sum(confusion[i][i] for i in range(k))
    f1 = {}
    for i, name in enumerate(HEAD_LABELS):
        tp = confusion[i][i]
        predicted_i = sum(confusion[r][i] for r in range(k))
        gold_i = sum(confusion[i])
        denominator = predicted_i + gold_i
        f1[name] = 100.0 * 2 * tp / denominator if denominator else 0.0
    return Figures(
        n=n,
        accuracy=100.0 * correct / n if n else 0.0,
        macro_f1=sum(f1.values()) / k,
        f1=f1,
        confusion=tuple(tuple(row) for row in confusion),
    )
