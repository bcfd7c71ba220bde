"""From attention rows to what a report shows: a candidate's merged row, and its evidence words."""
from __future__ import annotations

import re

import numpy as np

from brandscan.engine.model.rows import RowAttention
from brandscan.engine.report import WeightedSpan
from brandscan.engine.stable import WEIGHT_DECIMALS, rounded
from brandscan.engine.stages.linking.attribution import RowWeights
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import STOPWORDS, word_around


def row_weight_arrays(att: RowAttention) -> RowWeights:
    """Head-averaged attention of each row as (key positions, weights) arrays, padding dropped."""
    mean = att.head_mean().detach().float().cpu().numpy().astype(np.float64)  # (r, K)
    keys = att.keys.cpu().numpy()
    valid = keys >= 0
    return {row: (keys[r][valid[r]], mean[r][valid[r]]) for r, row in enumerate(att.rows.tolist())}


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


def evidence_spans(
    tokens: TokenizedDocument, weights: dict[int, float] | tuple[np.ndarray, np.ndarray],
    exclude: tuple[int, int], top: int,
) -> tuple[WeightedSpan, ...]:
    """Key weights -> the `top` heaviest words (word pieces merged), normalized to sum to 1.

    `exclude` is the candidate's own character span: attention to itself is no evidence. Special
    tokens, punctuation and stopwords are skipped.
    """
    text = tokens.text
    size = len(weights) if isinstance(weights, dict) else len(weights[0])
    # Only the heaviest keys can make the top words; a row has w + g keys, and growing every one
    # of them to its word in Python cost more than the rest of linking on long documents. When
    # those are all special tokens, stopwords or the candidate itself, four times as many are read, then
    # every key.
    for k in (max(64, 8 * top), max(256, 32 * top), size):
        words: dict[tuple[int, int], float] = {}
        for position, weight in _heaviest(weights, k):
            if tokens.is_special[position]:
                continue
            start, end = (int(v) for v in tokens.offsets[position])
            start, end = word_around(text, start, end)
            if start < exclude[1] and exclude[0] < end:
                continue
            word = text[start:end]
            if not _WORDISH.search(word) or word.lower() in STOPWORDS:
                continue
            words[(start, end)] = words.get((start, end), 0.0) + weight
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
