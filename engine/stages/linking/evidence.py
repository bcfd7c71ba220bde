"""From attention rows to what a report shows: a candidate's merged row, and its evidence words."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.model.rows import LocalKeys, RowAttention
from brandscan.engine.report import WeightedSpan
from brandscan.engine.stable import WEIGHT_DECIMALS, rounded
from brandscan.engine.stages.linking.attribution import RowWeights
from brandscan.engine.stages.linking.features import RowMass, row_mass
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import STOPWORDS


@dataclass(frozen=True, eq=False)
class MeanRows(Mapping[int, tuple[np.ndarray, np.ndarray]]):
    """Head-averaged attention rows, stored as (r, K) float16 weights: a RowWeights whose row arrays
    are cut out when read. A local row's keys follow from its position (rows.LocalKeys), so only the
    few global rows store theirs. One weight costs 2 bytes here; as per-row int64 keys and float64
    weights beside the tensors they came from it cost over 50, and a 1M-token document has about
    10^8 of them (float16 rather than float32: 0.2 GB less live data there, issue 16; a weight keeps 11
    significant bits, more than the bfloat16 probabilities it comes from on CPUs with bf16 units)."""

    weight_table: np.ndarray  # (r, K) float16
    row_of: dict[int, int]  # query position -> its row
    local_keys: LocalKeys
    global_keys: dict[int, np.ndarray]  # global query position -> its kept keys (K,), -1 where padded

    def __getitem__(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.row_of[position]
        keys = self.global_keys.get(position)
        if keys is None:
            keys = self.local_keys(position)
        valid = keys >= 0
        return keys[valid].astype(np.int64), self.weight_table[r][valid].astype(np.float64)

    def __contains__(self, position: object) -> bool:
        return position in self.row_of

    def __iter__(self) -> Iterator[int]:
        return iter(self.row_of)

    def __len__(self) -> int:
        return len(self.row_of)


def mean_rows(chunks: Iterable[RowAttention], n_rows: int, local_keys: LocalKeys) -> MeanRows:
    """Attention chunks (rows.attention_chunks) kept as MeanRows, each chunk's heads averaged as it
    comes: the rows' attention is never held per head. `local_keys` lays out the keys of the local
    rows, as attention_chunks did."""
    weights: np.ndarray | None = None
    positions: list[int] = []
    global_keys: dict[int, np.ndarray] = {}
    for chunk in chunks:
        mean = chunk.head_mean()  # (c, K)
        if weights is None:
            weights = np.empty((n_rows, mean.shape[1]), dtype=np.float16)
        at = len(positions)
        weights[at:at + len(chunk.rows)] = mean.detach().float().cpu().numpy()
        rows = chunk.rows.tolist()
        if rows and local_keys.is_global[rows[0]]:  # attention_chunks never mixes local and global rows
            global_keys.update(zip(rows, chunk.keys.cpu().numpy().astype(np.int32)))
        positions += rows
    if weights is None:
        return MeanRows(np.zeros((0, 0), np.float16), {}, local_keys, {})
    return MeanRows(weights[:len(positions)], {p: r for r, p in enumerate(positions)}, local_keys, global_keys)


def mass_rows(chunks: Iterable[RowAttention], entity_of: Tensor, dtype: torch.dtype = torch.float32) -> RowMass:
    """The RowMass of attention chunks, each chunk's heads averaged (then cast to `dtype`) and reduced
    to its entity mass as it comes: nothing of the rows' attention is kept."""
    positions, masses = [], []
    for chunk in chunks:
        mean = chunk.head_mean()[None].to(dtype)  # (1, c, K)
        positions.append(chunk.rows)
        masses.append(row_mass(RowAttention(chunk.rows, chunk.keys, mean), entity_of).mass)
    if not positions:
        return RowMass(torch.zeros(0, dtype=torch.long, device=entity_of.device),
                       torch.zeros(0, int(entity_of[-1]), dtype=dtype, device=entity_of.device))
    return RowMass(torch.cat(positions), torch.cat(masses))


def span_positions(spans: Iterable[tuple[int, int]], device: torch.device) -> Tensor:
    """The sorted distinct token positions of `spans`: the attention rows a set of mentions needs."""
    return torch.tensor(sorted({p for s, t in spans for p in range(s, t)}), dtype=torch.long, device=device)


def merge_rows(rows: RowWeights, positions: range) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows at `positions` (a candidate's word pieces) as (keys, weights)."""
    parts = [rows[p] for p in positions if p in rows]
    if len(parts) == 1 and len(positions) == 1:
        return parts[0]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    keys, inverse = np.unique(np.concatenate([k for k, _ in parts]), return_inverse=True)
    weights = np.bincount(inverse, weights=np.concatenate([w for _, w in parts]), minlength=len(keys))
    return keys, weights / len(positions)


_WORDISH = re.compile(r"\w")
_ALNUM_RUN = re.compile(r"[^\W_]+")  # a run of letters and digits: the word a word piece belongs to


@dataclass(frozen=True, eq=False)
class EvidenceWords:
    """The word each position of a document stands for as evidence (its character span), or none (a
    special token, punctuation, a stopword). Found for every position at once: a piece grows to the runs of
    letters and digits its first and last characters sit in (growing each position in Python was most of
    the evidence cost on long documents), then each distinct word is checked once."""

    start: np.ndarray  # (n,) word start; NO_WORD where the position is no evidence word
    end: np.ndarray  # (n,) word end

    NO_WORD: ClassVar[int] = -1

    @classmethod
    def of(cls, tokens: TokenizedDocument) -> EvidenceWords:
        text = tokens.text
        runs = np.fromiter((x for m in _ALNUM_RUN.finditer(text) for x in m.span()), dtype=np.int64).reshape(-1, 2)
        first = tokens.offsets[:, 0].astype(np.int64)
        last = tokens.offsets[:, 1].astype(np.int64)
        piece = (last > first) & ~np.asarray(tokens.is_special, dtype=bool)
        start, alnum_first = _run_edge(runs, first, 0)  # grown back from an alphanumeric first character
        end, alnum_last = _run_edge(runs, last - 1, 1)  # and on from an alphanumeric last character
        ids = start * (len(text) + 1) + end
        # A grown word holds a letter or digit, so only a short one can be a stopword; a piece with neither
        # end alphanumeric (punctuation) is checked whole. Each distinct word is read once.
        check = piece & (~(alnum_first | alnum_last) | (end - start <= _LONGEST_STOPWORD))
        bad = np.array([w for w in np.unique(ids[check]).tolist()
                        if not _is_evidence_word(text, *divmod(w, len(text) + 1))], dtype=np.int64)
        ok = piece & ~np.isin(ids, bad)
        return cls(np.where(ok, start, cls.NO_WORD), np.where(ok, end, 0))


def _run_edge(runs: np.ndarray, positions: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """For each character position: the start (side 0) or end (side 1) of the run of letters and digits
    holding it, or the position itself (its end: position + 1) where it is in none; and whether it is in one."""
    own = positions + side
    if not len(runs):
        return own, np.zeros(len(positions), dtype=bool)
    i = np.maximum(np.searchsorted(runs[:, 0], positions, side="right") - 1, 0)
    inside = (runs[i, 0] <= positions) & (positions < runs[i, 1])
    return np.where(inside, runs[i, side], own), inside


_LONGEST_STOPWORD = max(len(w) for w in STOPWORDS)


def _is_evidence_word(text: str, start: int, end: int) -> bool:
    word = text[start:end]
    return bool(_WORDISH.search(word)) and word.lower() not in STOPWORDS


def evidence_spans(
    tokens: TokenizedDocument, weights: dict[int, float] | tuple[np.ndarray, np.ndarray],
    exclude: tuple[int, int], top: int, words_of: EvidenceWords | None = None,
) -> tuple[WeightedSpan, ...]:
    """Key weights -> the `top` heaviest words (word pieces merged), normalized to sum to 1.

    `exclude` is the candidate's own character span: attention to itself is no evidence. Special
    tokens, punctuation and stopwords are skipped. A word's weight sums its pieces' among the row's keys.
    `words_of` is the document's EvidenceWords, found once for all of its calls.
    """
    text = tokens.text
    words_of = words_of or EvidenceWords.of(tokens)
    keys, values = _rounded(weights)
    starts, ends = words_of.start[keys], words_of.end[keys]
    keep = (starts != EvidenceWords.NO_WORD) & ~((starts < exclude[1]) & (exclude[0] < ends))
    if not keep.any():
        return ()
    words, inverse = np.unique(starts[keep] * (len(text) + 1) + ends[keep], return_inverse=True)
    sums = np.bincount(inverse, weights=values[keep], minlength=len(words))
    word_starts, word_ends = np.divmod(words, len(text) + 1)
    # Rounded before ranking, ties to the earlier word (words are in text order): the choice must not hang
    # on the last bits.
    best = np.argsort(-rounded(sums, WEIGHT_DECIMALS), kind="stable")[:top]
    total = float(sums[best].sum())
    if total <= 0:
        return ()
    best = np.sort(best)  # in text order
    return tuple(WeightedSpan(s, e, text[s:e], w / total)
                 for s, e, w in zip(word_starts[best].tolist(), word_ends[best].tolist(), sums[best].tolist()))


def _rounded(weights: dict[int, float] | tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(positions, weights rounded to WEIGHT_DECIMALS), in the row's own order."""
    if isinstance(weights, dict):
        keys = np.fromiter(weights.keys(), dtype=np.int64, count=len(weights))
        values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    else:
        keys, values = weights
    return keys, rounded(values, WEIGHT_DECIMALS)
