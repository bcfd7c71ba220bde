"""Attribution of a linking decision: attention rollout through the last layers.

The rows themselves are recomputed by the encoder's layers (model/rows.py, Layer.row_attention);
evidence.py turns rows into anchors' weights and evidence words.

Rollout (`--attribution rollout`) multiplies the residual-mixed, head-averaged attention
(0.5 A + 0.5 I) of the last `layers` layers through the sparse pattern. Exact rollout would need the
lower layer's rows for every key a row sees; we expand only each row's `ROLLOUT_FANOUT` strongest
keys and let the rest of its mass pass straight down (identity), a documented approximation that
keeps the cost at O(rows * fanout * (w + g)). The expansion is batched: the strongest keys of all
rows are pooled, each distinct key's row is recomputed once, and the weighted rows are summed in
numpy, a chunk of rows at a time; the result becomes dicts only at the end.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.model.rows import LayerAttention, RowAttention, attention_chunks, row_attention
from brandscan.engine.stable import WEIGHT_DECIMALS, rounded

__all__ = ["ROLLOUT_FANOUT", "LayerAttention", "RowAttention", "RowWeights", "rollout", "rollout_rows",
           "row_attention"]

ROLLOUT_FANOUT = 16
# Rows per batched rollout step: at most this many accumulator cells and uncoalesced entries (32 MB).
ROLLOUT_CELLS = 1 << 22

# Attention rows as arrays: query position -> (key positions (m,) int64, weights (m,) float64).
RowWeights = Mapping[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class _Flow:
    """Sparse rows as coordinates, grouped by owner in ascending order, each (owner, key) once:
    row `owner[i]` (an index into the rows being rolled out) holds `weight[i]` at position `key[i]`."""

    owner: np.ndarray  # (m,) int64
    key: np.ndarray  # (m,) int64
    weight: np.ndarray  # (m,) float64


def rollout(
    layers: Sequence[LayerAttention], rows: Tensor, global_positions: Tensor, window: int,
    top: RowAttention | None = None,
) -> dict[int, dict[int, float]]:
    """Attention rollout for `rows` through the last layers (lowest first in `layers`), each row as
    {key position: weight}.

    `top`, when given, is row_attention(layers[-1], rows, ...), already computed by the caller.
    """
    return _as_dicts(rollout_rows(layers, rows, global_positions, window, top))


def rollout_rows(
    layers: Sequence[LayerAttention], rows: Tensor, global_positions: Tensor, window: int,
    top: RowAttention | None = None,
) -> RowWeights:
    """rollout() with each row as (key positions, weights) arrays: no per-key Python objects."""
    n = int(layers[-1].inputs.shape[0])
    chunks = [top] if top is not None else attention_chunks(layers[-1], rows, global_positions, window)
    order, keys, weights = _mixed_rows(chunks)  # (r,), (r, K+1), (r, K+1)
    # A row's own position is usually among its keys already: fold the identity column into it.
    weights = weights.astype(np.float64)
    own = keys[:, :-1] == order[:, None]  # (r, K), padded keys (-1) never match
    weights[:, :-1][own] += 0.5
    weights[own.any(axis=1), -1] = 0.0
    real = weights > 0
    flow = _Flow(np.nonzero(real)[0], keys[real], weights[real])
    for layer in reversed(layers[:-1]):
        flow = _expand(flow, len(order), layer, global_positions, window, n)
    bounds = np.searchsorted(flow.owner, np.arange(len(order) + 1)).tolist()
    return {row: (flow.key[a:b], flow.weight[a:b]) for row, a, b in zip(order.tolist(), bounds, bounds[1:])}


def _as_dicts(rows: RowWeights) -> dict[int, dict[int, float]]:
    return {row: dict(zip(keys.tolist(), weights.tolist())) for row, (keys, weights) in rows.items()}


def _expand(flow: _Flow, rows: int, layer: LayerAttention, global_positions: Tensor, window: int, n: int) -> _Flow:
    """One layer down: each row's ROLLOUT_FANOUT strongest keys are replaced by their own mixed rows
    in `layer`, scaled by their weight; the rest of the row's mass passes straight down."""
    pick = _strongest(flow, rows, ROLLOUT_FANOUT)  # (m,) bool
    # Neighbouring rows share most of their strongest keys: each is recomputed once for all rows.
    expand = np.unique(flow.key[pick])  # (u,) sorted
    wanted = torch.from_numpy(expand).to(global_positions.device)
    below_rows, below_keys, below_weights = _mixed_rows(attention_chunks(layer, wanted, global_positions, window))
    slot = np.searchsorted(expand, below_rows)  # chunks come local rows first: back to `expand` order
    below_keys[slot], below_weights[slot] = np.maximum(below_keys, 0), below_weights.copy()  # (u, K+1)
    step = _rows_per_chunk(n, ROLLOUT_FANOUT * below_keys.shape[1])
    cuts = np.searchsorted(flow.owner, np.arange(0, rows + step, step)).tolist()
    # Shared across chunks and reset after each: a chunk costs its own entries, not O(n) allocations
    # (a 1M-token document has thousands of chunks).
    touched = np.zeros(n, dtype=bool)
    column_of = np.zeros(n, dtype=np.int64)
    parts = []
    for a, lo, hi in zip(range(0, rows, step), cuts, cuts[1:]):
        owner, key, weight, p = flow.owner[lo:hi] - a, flow.key[lo:hi], flow.weight[lo:hi], pick[lo:hi]
        # A dense (rows, columns) accumulator over the key positions this chunk touches: bincount
        # and a scan are linear, where sorting the entries (np.unique) cost several times the whole
        # expansion, and compacting the columns keeps the scan off the n - columns untouched keys.
        u = np.searchsorted(expand, key[p])  # (e,) each expanded entry's row in `below_*`
        below = np.take(below_keys, u, axis=0)  # (e, K+1); padded keys point at 0 with weight 0
        kept = key[~p]  # unexpanded mass passes straight down
        touched[below.ravel()] = True
        touched[kept] = True
        columns = np.flatnonzero(touched)  # (c,) sorted key positions
        touched[columns] = False
        column_of[columns] = np.arange(len(columns))  # read only at this chunk's columns
        width = len(columns)
        cells = column_of[below] + (owner[p] * width)[:, None]  # (e, K+1)
        spread = np.take(below_weights, u, axis=0) * weight[p, None]  # (e, K+1) float64
        acc = np.bincount(cells.ravel(), weights=spread.ravel(), minlength=(min(a + step, rows) - a) * width)
        acc[owner[~p] * width + column_of[kept]] += weight[~p]  # (owner, key) cells are unique here
        nz = np.flatnonzero(acc)
        parts.append(_Flow(nz // width + a, columns[nz % width], acc[nz]))
    if not parts:
        return flow
    return _Flow(*(np.concatenate([getattr(f, name) for f in parts]) for name in ("owner", "key", "weight")))


def _strongest(flow: _Flow, rows: int, fanout: int) -> np.ndarray:
    """Mask of each row's `fanout` heaviest entries, ties to the lower position."""
    if not len(flow.owner):
        return np.zeros(0, dtype=bool)
    column = np.arange(len(flow.owner)) - np.searchsorted(flow.owner, np.arange(rows))[flow.owner]
    width = int(column.max()) + 1
    if width <= fanout:
        return np.ones(len(flow.owner), dtype=bool)
    weight = rounded(flow.weight, WEIGHT_DECIMALS)  # compared rounded: see stable.py
    dense = np.zeros((rows, width))  # (r, width) weights are > 0: 0 pads a short row
    dense[flow.owner, column] = weight
    cut = np.partition(dense, width - fanout, axis=1)[:, width - fanout][flow.owner]  # (m,) fanout-th largest
    pick = weight > cut
    # Entries equal to the cut fill the rest, lowest position first.
    tied = np.flatnonzero(weight == cut)
    tied = tied[np.lexsort((flow.key[tied], flow.owner[tied]))]
    need = fanout - np.bincount(flow.owner[pick], minlength=rows)  # (r,)
    rank = np.arange(len(tied)) - np.searchsorted(flow.owner[tied], flow.owner[tied])
    pick[tied[rank < need[flow.owner[tied]]]] = True
    return pick


def _mixed_rows(chunks: Iterable[RowAttention]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0.5 * head-mean attention + 0.5 * identity as padded rows: (rows (r,), keys (r, K+1) with
    the row itself in the last column and -1 where padded, weights (r, K+1) float32, 0 where padded)."""
    rows, keys, weights = [], [], []
    for att in chunks:
        # numpy from here: a few large single-threaded passes, not a dozen small torch ops a chunk
        mean = att.probs.detach().float().cpu().numpy().mean(axis=0)  # (c, K)
        here, k = att.rows.detach().cpu().numpy(), att.keys.detach().cpu().numpy()
        # A global row keeps only its strongest keys: renormalize so rollout stays a distribution.
        mean /= np.maximum(mean.sum(axis=1, keepdims=True), 1e-12)
        w = np.full((len(here), k.shape[1] + 1), 0.5, dtype=np.float32)  # (c, K+1)
        w[:, :-1] = np.where(k >= 0, 0.5 * mean, 0.0)  # padded keys get weight 0
        keys.append(np.concatenate([k, here[:, None]], axis=1))  # (c, K+1)
        weights.append(w)
        rows.append(here)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
    return np.concatenate(rows), np.concatenate(keys), np.concatenate(weights)


def _rows_per_chunk(n: int, entries_per_row: int) -> int:
    # Bounds both the dense (rows, n) accumulator and the uncoalesced entries of one chunk.
    return max(1, min(ROLLOUT_CELLS // n, ROLLOUT_CELLS // max(entries_per_row, 1)))
