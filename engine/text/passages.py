"""Tokenize a document once and lay it out as passages for the encoder.

The encoder sequence is the passages end to end, each `[CLS] tokens... [SEP]`: the [CLS] token is
the passage marker (a global token), and position ids restart at 0 at every marker, so a document
of any length reuses the checkpoint's 512 learned positions (as Longformer did).

Passages follow paragraphs (blank lines); a paragraph longer than `max_tokens` is split at sentence
boundaries, and a sentence longer than that at token boundaries. Everything here is linear in the
document length: one tokenizer call, one pass of regexes, and vectorized numpy for the layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from brandscan.engine.text.words import SENTENCE_END

# A blank line (possibly holding spaces) separates paragraphs.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# End of a sentence: terminal punctuation, optional closing quotes/brackets, then whitespace.


@dataclass(frozen=True)
class Passage:
    index: int
    start: int  # character offsets of the passage's text in the document
    end: int
    token_start: int  # sequence index of the passage's [CLS] marker
    token_end: int  # one past the passage's [SEP]


@dataclass(frozen=True, eq=False)
class TokenizedDocument:
    """The encoder's view of one document. Arrays are read-only numpy arrays of length n."""

    text: str
    input_ids: np.ndarray  # (n,) int64
    position_ids: np.ndarray  # (n,) int64, 0 at each marker
    offsets: np.ndarray  # (n, 2) int64 character offsets; markers and [SEP] are empty spans
    is_marker: np.ndarray  # (n,) bool, True at each passage's [CLS]
    is_special: np.ndarray  # (n,) bool, True at [CLS] and [SEP]
    passage_of: np.ndarray  # (n,) int32 passage index of every position
    passages: tuple[Passage, ...]

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    def token_span(self, start: int, end: int) -> tuple[int, int]:
        """Sequence positions [first, last) of the word-piece tokens overlapping text[start:end]."""
        ends = self._token_ends
        starts = self._token_starts
        # Special tokens are empty spans, so neither test below can select them.
        first = int(np.searchsorted(ends, start, side="right"))
        last = int(np.searchsorted(starts, end, side="left"))
        real = self._real_positions
        if first >= last:
            raise ValueError(f"no token overlaps characters {start}:{end}")
        return int(real[first]), int(real[last - 1]) + 1

    @property
    def _real_positions(self) -> np.ndarray:
        return _cached(self, "_real", lambda: np.flatnonzero(~self.is_special))

    @property
    def _token_starts(self) -> np.ndarray:
        return _cached(self, "_starts", lambda: self.offsets[self._real_positions, 0])

    @property
    def _token_ends(self) -> np.ndarray:
        return _cached(self, "_ends", lambda: self.offsets[self._real_positions, 1])


def _cached(doc: TokenizedDocument, name: str, make):  # type: ignore[no-untyped-def]
    # Frozen dataclass: derived lookup arrays are memoized in the instance dict on first use.
    value = doc.__dict__.get(name)
    if value is None:
        value = make()
        object.__setattr__(doc, name, value)
    return value


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The model's tokenizer, with truncation and padding switched off (we lay out passages)."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the non-blank paragraphs, stripped of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for found in _PARAGRAPH_BREAK.finditer(text):
        spans.append((cursor, found.start()))
        cursor = found.end()
    spans.append((cursor, len(text)))
    stripped = []
    for start, end in spans:
        chunk = text[start:end]
        left = len(chunk) - len(chunk.lstrip())
        right = len(chunk.rstrip())
        if right > left:
            stripped.append((start + left, start + right))
    return stripped


def _split_long(
    text: str, start: int, end: int, tok_lo: int, tok_hi: int, token_starts: np.ndarray, max_tokens: int
) -> list[tuple[int, int]]:
    """Token ranges of at most max_tokens for one long paragraph, cut at sentence ends if possible."""
    # Candidate cut points: the first token at or after each sentence end inside the paragraph.
    cuts = [tok_lo]
    for found in SENTENCE_END.finditer(text, start, end):
        cut = int(np.searchsorted(token_starts, found.end(), side="left"))
        if tok_lo < cut < tok_hi and cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(tok_hi)
    ranges: list[tuple[int, int]] = []
    begin = tok_lo
    for previous, cut in zip(cuts, cuts[1:]):
        if cut - begin > max_tokens:
            if previous > begin:
                ranges.append((begin, previous))
                begin = previous
            while cut - begin > max_tokens:  # one sentence longer than a passage
                ranges.append((begin, begin + max_tokens))
                begin += max_tokens
    if tok_hi > begin:
        ranges.append((begin, tok_hi))
    return ranges


def _encode(
    text: str, paragraphs: list[tuple[int, int]], tokenizer: Tokenizer, chunk_chars: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece ids (N,) and character offsets (N, 2) of the whole text.

    The text is cut at paragraph breaks into chunks of about `chunk_chars` and encoded with
    `encode_batch`, which runs on all cores; cutting at whitespace leaves the tokens unchanged.
    """
    bounds: list[tuple[int, int]] = []
    chunk_start = None
    for start, end in paragraphs:
        if chunk_start is None:
            chunk_start = start
        if end - chunk_start >= chunk_chars:
            bounds.append((chunk_start, end))
            chunk_start = None
    if chunk_start is not None:
        bounds.append((chunk_start, paragraphs[-1][1]))
    encodings = tokenizer.encode_batch([text[a:b] for a, b in bounds], add_special_tokens=False)
    ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
    offsets = [np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2) + a for e, (a, _) in zip(encodings, bounds)]
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(ids), np.concatenate(offsets)


def tokenize_document(text: str, tokenizer: Tokenizer, max_tokens: int = 510) -> TokenizedDocument:
    """Tokenize once and lay out passages `[CLS] ... [SEP]` with restarting positions."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    paragraphs = paragraph_spans(text)
    ids, offsets = _encode(text, paragraphs, tokenizer)
    token_starts = offsets[:, 0]

    # Token ranges per passage, in document order.
    ranges: list[tuple[int, int]] = []
    char_spans: list[tuple[int, int]] = []
    for start, end in paragraphs:
        lo = int(np.searchsorted(token_starts, start, side="left"))
        hi = int(np.searchsorted(token_starts, end, side="left"))
        if hi <= lo:
            continue  # only characters the tokenizer drops (e.g. control characters)
        pieces = [(lo, hi)] if hi - lo <= max_tokens else _split_long(
            text, start, end, lo, hi, token_starts, max_tokens
        )
        for a, b in pieces:
            ranges.append((a, b))
            char_spans.append((int(offsets[a, 0]), int(offsets[b - 1, 1])))

    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ValueError("the tokenizer has no [CLS]/[SEP] tokens")

    n_passages = len(ranges)
    lengths = np.array([b - a for a, b in ranges], dtype=np.int64)  # (P,)
    seq_lengths = lengths + 2
    seq_starts = np.cumsum(seq_lengths) - seq_lengths  # (P,)
    n = int(seq_lengths.sum())

    passage_of = np.repeat(np.arange(n_passages, dtype=np.int32), seq_lengths)  # (n,)
    position_ids = np.arange(n, dtype=np.int64) - np.repeat(seq_starts, seq_lengths)  # (n,)
    is_marker = position_ids == 0
    is_sep = np.zeros(n, dtype=bool)
    is_sep[seq_starts + seq_lengths - 1] = True

    # Every word piece lands at its passage's start + 1 + its rank within the passage.
    token_index = np.concatenate([np.arange(a, b) for a, b in ranges]) if ranges else np.zeros(0, np.int64)
    destination = token_index - np.repeat(np.array([a for a, _ in ranges], dtype=np.int64), lengths)
    destination += np.repeat(seq_starts, lengths) + 1

    input_ids = np.empty(n, dtype=np.int64)
    input_ids[is_marker] = cls_id
    input_ids[is_sep] = sep_id
    input_ids[destination] = ids[token_index]

    seq_offsets = np.empty((n, 2), dtype=np.int64)
    starts = np.array([s for s, _ in char_spans], dtype=np.int64)
    ends = np.array([e for _, e in char_spans], dtype=np.int64)
    seq_offsets[is_marker] = np.stack([starts, starts], axis=1)
    seq_offsets[is_sep] = np.stack([ends, ends], axis=1)
    seq_offsets[destination] = offsets[token_index]

    passages = tuple(
        Passage(
            index=i,
            start=int(starts[i]),
            end=int(ends[i]),
            token_start=int(seq_starts[i]),
            token_end=int(seq_starts[i] + seq_lengths[i]),
        )
        for i in range(n_passages)
    )
    arrays = (input_ids, position_ids, seq_offsets, is_marker, is_marker | is_sep, passage_of)
    for array in arrays:
        array.setflags(write=False)
    return TokenizedDocument(text, *arrays, passages=passages)
