"""Sentences and clauses of a tokenized document, by token: what the opinion head's features read.

Sentences are cut inside passages by the one splitter (text/words.py), clauses inside sentences at
CLAUSE_BREAK. Every real word piece gets the index of its sentence and clause; special tokens
(passage markers, [SEP]) get -1. Linear in the document length.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import CLAUSE_BREAK, SENTENCE_OR_LINE_END


@dataclass(frozen=True)
class Segment:
    """Characters [start, end) of the document text."""

    start: int
    end: int


def sentence_segments(text: str, start: int = 0, end: int | None = None) -> list[Segment]:
    """Sentences of text[start:end], trimmed of surrounding whitespace; offsets into `text`."""
    end = len(text) if end is None else end
    cuts = [start] + [m.end() for m in SENTENCE_OR_LINE_END.finditer(text, start, end)] + [end]
    out = []
    for a, b in itertools.pairwise(cuts):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append(Segment(a, b))
    return out


def clause_segments(text: str, sentence: Segment) -> list[Segment]:
    """The clauses of one sentence, cut at CLAUSE_BREAK (the break itself belongs to neither)."""
    out, start = [], sentence.start
    for m in CLAUSE_BREAK.finditer(text, sentence.start, sentence.end):
        if m.start() > start:
            out.append(Segment(start, m.start()))
        start = m.end()
    if start < sentence.end:
        out.append(Segment(start, sentence.end))
    return out or [sentence]


@dataclass(frozen=True, eq=False)
class TokenLayout:
    """Per sequence position: character span, sentence and clause (-1 for special tokens)."""

    starts: np.ndarray  # (n,) int64 character start
    ends: np.ndarray  # (n,) int64 character end
    real: np.ndarray  # (n,) bool: a word piece of the text
    sentence: np.ndarray  # (n,) int64 sentence index, -1 for special tokens
    clause: np.ndarray  # (n,) int64 clause index (document-wide), -1 for special tokens
    sentences: tuple[Segment, ...]
    clauses: tuple[Segment, ...]

    def sentence_at(self, position: int) -> int:
        """Sentence index of the character `position` (the last sentence starting at or before it)."""
        starts = [s.start for s in self.sentences]
        return max(0, int(np.searchsorted(starts, position, side="right")) - 1)


def token_layout(tokens: TokenizedDocument) -> TokenLayout:
    """Sentences and clauses of `tokens.text`, cut inside passages, and each position's indexes."""
    text = tokens.text
    passages = [(p.start, p.end) for p in tokens.passages] or [(0, len(text))]
    sentences = [s for a, b in passages for s in sentence_segments(text, a, b)]
    clauses = [c for s in sentences for c in clause_segments(text, s)]
    starts = tokens.offsets[:, 0].astype(np.int64)
    ends = tokens.offsets[:, 1].astype(np.int64)
    real = ~tokens.is_special
    sentence = _index_of(starts, [s.start for s in sentences], real)
    clause = _index_of(starts, [c.start for c in clauses], real)
    return TokenLayout(starts, ends, real, sentence, clause, tuple(sentences), tuple(clauses))


def _index_of(starts: np.ndarray, segment_starts: list[int], real: np.ndarray) -> np.ndarray:
    # A word piece belongs to the last segment starting at or before it.
    if not segment_starts:
        return np.full(starts.shape, -1, dtype=np.int64)
    index = np.searchsorted(np.asarray(segment_starts, dtype=np.int64), starts, side="right") - 1
    index = np.maximum(index, 0)
    return np.where(real, index, -1).astype(np.int64)
