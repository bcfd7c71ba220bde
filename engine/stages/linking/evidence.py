"""From attention rows to what a report shows: a candidate's merged row, and its evidence words."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.model.rows import LocalKeys, RowAttention
from brandscan.engine.report import WeightedSpan
from brandscan.engine.stable import WEIGHT_DECIMALS, rounded
from brandscan.engine.stages.linking.attribution import RowWeights
from brandscan.engine.stages.linking.features import RowMass, row_mass
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import STOPWORDS, word_around


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
        mean = chunk.probs.mean(dim=0)  # (c, K)
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
        mean = chunk.probs.mean(dim=0, keepdim=True).to(dtype)  # (1, c, K)
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


@dataclass(eq=False)
class EvidenceWords:
    """The word each key position stands for as evidence (its character span), or none (a special token,
    punctuation, a stopword), remembered for one document in two arrays: neighbouring rows share most
    of their keys, so a position is grown to its word in Python once, and each row reads its keys'
    words as a vector (a Python call per key was most of the evidence cost on long documents)."""

    tokens: TokenizedDocument
    start: np.ndarray = field(init=False)  # (n,) word start; NO_WORD for none, UNREAD before first asked
    end: np.ndarray = field(init=False)  # (n,) word end

    NO_WORD = -1
    UNREAD = -2

    def __post_init__(self) -> None:
        n = len(self.tokens.is_special)
        self.start = np.full(n, self.UNREAD, dtype=np.int64)
        self.end = np.zeros(n, dtype=np.int64)

    def spans(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the words at `positions`; a start of NO_WORD where there is none."""
        text, offsets = self.tokens.text, self.tokens.offsets
        for position in np.unique(positions[self.start[positions] == self.UNREAD]).tolist():
            start, end = self.NO_WORD, 0
            if not self.tokens.is_special[position]:
                start, end = word_around(text, int(offsets[position, 0]), int(offsets[position, 1]))
                if not _WORDISH.search(text[start:end]) or text[start:end].lower() in STOPWORDS:
                    start, end = self.NO_WORD, 0
            self.start[position], self.end[position] = start, end
        return self.start[positions], self.end[positions]


def evidence_spans(
    tokens: TokenizedDocument, weights: dict[int, float] | tuple[np.ndarray, np.ndarray],
    exclude: tuple[int, int], top: int, words_of: EvidenceWords | None = None,
) -> tuple[WeightedSpan, ...]:
    """Key weights -> the `top` heaviest words (word pieces merged), normalized to sum to 1.

    `exclude` is the candidate's own character span: attention to itself is no evidence. Special
    tokens, punctuation and stopwords are skipped. `words_of` carries the words already found over a
    document's calls.
    """
    text = tokens.text
    words_of = words_of or EvidenceWords(tokens)
    keys, values = _rounded(weights)
    # Only the heaviest keys can make the top words: the heaviest 8 x top are read first; when they
    # hold fewer than `top` words (all special tokens, stopwords or the candidate itself), four times as
    # many, then every key. A word's weight sums its pieces' among the keys read. Each round's order is a
    # prefix of the next one's, so a round reads on from where the last stopped.
    starts, ends = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.zeros(0, dtype=np.int64)
    for k in (max(64, 8 * top), max(256, 32 * top), len(keys)):
        read = len(order)
        order = _heaviest(keys, values, k)
        s, e = words_of.spans(keys[order[read:]])
        starts, ends = np.concatenate([starts, s]), np.concatenate([ends, e])
        read = len(order)
        keep = (starts != EvidenceWords.NO_WORD) & ~((starts < exclude[1]) & (exclude[0] < ends))
        if len(np.unique(starts[keep])) >= top or read >= len(keys):
            break
    word_ids = starts[keep] * (len(text) + 1) + ends[keep]
    _, first, inverse = np.unique(word_ids, return_index=True, return_inverse=True)
    # Summed in key order, heaviest first, as the pieces were read.
    sums = np.bincount(inverse, weights=values[order][keep], minlength=len(first))
    word_starts, word_ends = starts[keep][first], ends[keep][first]
    # Rounded before ranking, ties to the earlier word: the choice must not hang on the last bits.
    best = np.lexsort((word_ends, word_starts, -rounded(sums, WEIGHT_DECIMALS)))[:top]
    total = float(sums[best].sum())
    if total <= 0:
        return ()
    best = best[np.argsort(word_starts[best], kind="stable")]
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


def _heaviest(keys: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k heaviest keys, heaviest first, ties to the lower position. A row holds w + g keys
    and the first round reads 64: partition, then sort only what can be among the k."""
    chosen = np.arange(len(values))
    if k < len(values):
        cut = np.partition(values, len(values) - k)[len(values) - k]  # the k-th largest weight
        chosen = np.flatnonzero(values >= cut)
    return chosen[np.lexsort((keys[chosen], -values[chosen]))][:k]
