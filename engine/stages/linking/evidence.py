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
    """The word a key position stands for as evidence, or None (a special token, punctuation, a
    stopword), remembered for one document: neighbouring rows share most of their keys, and growing a
    piece to its word in Python was most of the evidence cost on long documents."""

    tokens: TokenizedDocument
    seen: dict[int, tuple[int, int] | None] = field(default_factory=dict)

    def __call__(self, position: int) -> tuple[int, int] | None:
        if position in self.seen:
            return self.seen[position]
        word: tuple[int, int] | None = None
        if not self.tokens.is_special[position]:
            text = self.tokens.text
            start, end = word_around(text, int(self.tokens.offsets[position, 0]), int(self.tokens.offsets[position, 1]))
            if _WORDISH.search(text[start:end]) and text[start:end].lower() not in STOPWORDS:
                word = (start, end)
        self.seen[position] = word
        return word


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
    size = len(weights) if isinstance(weights, dict) else len(weights[0])
    # Only the heaviest keys can make the top words; a row has w + g keys, and growing every one
    # of them to its word in Python cost more than the rest of linking on long documents. When
    # those are all special tokens, stopwords or the candidate itself, four times as many are read, then
    # every key.
    # Each round reads on from where the last stopped: the heaviest k keys are a prefix of the heaviest
    # 4k (_heaviest orders them heaviest first, ties to the lower position).
    words: dict[tuple[int, int], float] = {}
    read = 0
    for k in (max(64, 8 * top), max(256, 32 * top), size):
        for position, weight in _heaviest(weights, k)[read:]:
            found = words_of(position)
            if found is None or (found[0] < exclude[1] and exclude[0] < found[1]):
                continue
            words[found] = words.get(found, 0.0) + weight
        read = k
        if len(words) >= top or k >= size:
            break
    # Rounded before ranking, ties to the earlier word: the choice must not hang on the last bits.
    best = sorted(words.items(), key=lambda kv: (-round(kv[1], WEIGHT_DECIMALS), kv[0]))[:top]
    total = sum(w for _, w in best)
    if total <= 0:
        return ()
    return tuple(
        WeightedSpan(s, e, text[s:e], w / total) for (s, e), w in sorted(best, key=lambda kv: kv[0])
    )


def _heaviest(weights: dict[int, float] | tuple[np.ndarray, np.ndarray], k: int) -> list[tuple[int, float]]:
    """The k heaviest (position, weight) pairs, heaviest first, ties to the lower position."""
    if isinstance(weights, dict):
        keys = np.fromiter(weights.keys(), dtype=np.int64, count=len(weights))
        values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    else:
        keys, values = weights
    values = rounded(values, WEIGHT_DECIMALS)
    # A rollout row holds over a thousand keys: partition in numpy rather than sort in Python.
    best = np.arange(len(values))
    if len(values) > k:
        cut = np.partition(values, len(values) - k)[len(values) - k]  # the k-th largest weight
        best = np.flatnonzero(values >= cut)
    best = best[np.lexsort((keys[best], -values[best]))][:k]
    return list(zip(keys[best].tolist(), values[best].tolist()))
