"""Attention for the rows that linking needs, and its turning into anchors and evidence spans.

Nothing here asks the encoder for its attention maps: those are (h, n, w+1) per layer, over a GB for
a 100k-token document. Instead, the input hidden states of the last layer(s) are kept, and the
attention probabilities are recomputed for the query rows of the candidates only, against exactly
the keys the encoder used for them (the window, minus global keys, plus every global key: one
softmax over that union). BERT-family layers are post-LayerNorm, so a layer's queries and keys are
plain projections of its input; the recomputed rows equal the encoder's own.

A global query row attends to every key; such rows (ambiguous aliases that are anchors themselves)
are computed exactly over all n keys and then kept sparse as their top `w + 1 + g` keys.

Rollout (`--attribution rollout`) multiplies the residual-mixed, head-averaged attention
(0.5 A + 0.5 I) of the last `layers` layers through the sparse pattern. Exact rollout would need the
lower layer's rows for every key a row sees; we expand only each row's `ROLLOUT_FANOUT` strongest
keys and let the rest of its mass pass straight down (identity), a documented approximation that
keeps the cost at O(rows * fanout * (w + g)). The expansion is batched: the strongest keys of all
rows are pooled, each distinct key's row is recomputed once, and the weighted rows are summed in
numpy, a chunk of rows at a time; the result becomes dicts only at the end.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .passages import TokenizedDocument
from .report import WeightedSpan
from .stable import WEIGHT_DECIMALS, rounded

ROW_CHUNK = 64  # query rows per batched gather: 64 * (w + 1 + g) * d floats stay a few tens of MB
ROLLOUT_FANOUT = 16
# Rows per batched rollout step: at most this many accumulator cells and uncoalesced entries (32 MB).
ROLLOUT_CELLS = 1 << 22
# Rows close together are scored against their whole span of keys, up to SPAN_ROWS rows spanning at
# most SPAN_KEYS windows: (h, 256, 8 * 257) floats, 25 MB.
SPAN_ROWS = 256
SPAN_KEYS = 8
# A global query row scores all n keys: at most this many scores per chunk of such rows (64 MB).
GLOBAL_SCORES = 1 << 24
# Words that draw attention in every sentence and explain nothing to a reviewer.
STOPWORDS = frozenset(
    "a an the and or but of to in on at for by with from as is are was were be been it its they them "
    "their this that these those he she his her we our us i you".split()
)

# Attention rows as arrays: query position -> (key positions (m,) int64, weights (m,) float64).
RowWeights = dict[int, tuple[np.ndarray, np.ndarray]]

# A layer's query and key projections: hidden (m, d) -> (m, d), as the encoder computes them.
Projection = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LayerAttention:
    """What it takes to recompute one layer's attention rows."""

    inputs: Tensor  # (n, d) the layer's input hidden states
    query: Projection
    key: Projection
    heads: int


@dataclass(frozen=True)
class RowAttention:
    """Sparse attention rows: row r gave probs[:, r, j] to sequence position keys[r, j]."""

    rows: Tensor  # (r,) int64 query positions
    keys: Tensor  # (r, K) int64 key positions, -1 where padded
    probs: Tensor  # (h, r, K) probabilities, 0 where padded

    def head_mean(self) -> Tensor:
        return self.probs.mean(dim=0)  # (r, K)


def row_attention(
    layer: LayerAttention, rows: Tensor, global_positions: Tensor, window: int
) -> RowAttention:
    """Exact attention probabilities of `rows` (the encoder's sparse pattern), differentiable."""
    h = layer.heads
    width = window + 1 + int(global_positions.numel())
    chunks = list(_attention_chunks(layer, rows, global_positions, window))
    if not chunks:
        return RowAttention(rows[:0], torch.zeros(0, width, dtype=torch.long), torch.zeros(h, 0, width))
    return RowAttention(torch.cat([c.rows for c in chunks]), torch.cat([c.keys for c in chunks]),
                        torch.cat([c.probs for c in chunks], dim=1))


def _attention_chunks(
    layer: LayerAttention, rows: Tensor, global_positions: Tensor, window: int
) -> Iterator[RowAttention]:
    """row_attention a chunk of rows at a time, local rows first: the keys are projected once per
    call, and a caller that reduces each chunk as it comes never holds (h, rows, K) at once."""
    x = layer.inputs
    n, d = x.shape
    h = layer.heads
    dh = d // h
    half = window // 2
    is_global = torch.zeros(n, dtype=torch.bool, device=x.device)
    is_global[global_positions] = True
    k_all = layer.key(x).view(n, h, dh)  # (n, h, dh)
    k_glob = k_all[global_positions]  # (g, h, dh)
    g = int(global_positions.numel())
    scale = 1.0 / math.sqrt(dh)
    offsets = torch.arange(-half, half + 1, device=x.device)  # (w+1,)
    local_rows = rows[~is_global[rows]]
    global_rows = rows[is_global[rows]]
    for a, b, span in _local_chunks(local_rows.cpu().numpy(), window):
        chunk = local_rows[a:b]  # (c,)
        q = layer.query(x[chunk]).view(-1, h, dh) * scale  # (c, h, dh)
        win = chunk[:, None] + offsets[None, :]  # (c, w+1)
        inside = (win >= 0) & (win < n)
        win_c = win.clamp(0, n - 1)
        win_ok = inside & ~is_global[win_c]  # global keys are counted once, on the global side
        if span:
            first, last = int(win_c.min()), int(win_c.max()) + 1
            s_span = torch.einsum("chd,shd->hcs", q, k_all[first:last])  # (h, c, S)
            s_win = s_span.gather(2, (win_c - first)[None].expand(h, -1, -1))  # (h, c, w+1)
        else:
            s_win = torch.einsum("chd,cwhd->hcw", q, k_all[win_c])  # (h, c, w+1)
        s_glob = torch.einsum("chd,ghd->hcg", q, k_glob)  # (h, c, g)
        scores = torch.cat([s_win, s_glob], dim=-1)  # (h, c, w+1+g)
        ok = torch.cat([win_ok, torch.ones(len(chunk), g, dtype=torch.bool, device=x.device)], dim=1)
        probs = torch.softmax(scores.masked_fill(~ok[None], -math.inf), dim=-1)  # (h, c, w+1+g)
        keys = torch.cat([torch.where(win_ok, win, -1), global_positions[None].expand(len(chunk), g)], dim=1)
        yield RowAttention(chunk, keys, probs)
    # A global row sees all n keys: its scores are (h, n) per row, so the chunk shrinks as n grows.
    width = window + 1 + g
    kept = min(width, n)
    step = max(1, min(ROW_CHUNK, GLOBAL_SCORES // (h * n)))
    for lo in range(0, int(global_rows.numel()), step):
        chunk = global_rows[lo:lo + step]  # (c,)
        q = layer.query(x[chunk]).view(-1, h, dh) * scale  # (c, h, dh)
        probs = torch.softmax(torch.einsum("chd,nhd->hcn", q, k_all), dim=-1)  # (h, c, n)
        top = torch.topk(probs.mean(dim=0), kept, dim=-1).indices.sort(dim=-1).values  # (c, K)
        keep = torch.gather(probs, 2, top[None].expand(h, -1, -1))  # (h, c, K)
        pad = width - kept
        keys = torch.nn.functional.pad(top, (0, pad), value=-1)  # (c, w+1+g)
        yield RowAttention(chunk, keys, torch.nn.functional.pad(keep, (0, pad)))


def _local_chunks(rows: np.ndarray, window: int) -> Iterator[tuple[int, int, bool]]:
    """Chunks rows[a:b] of local rows, and whether to score each chunk's whole span of keys.

    Rows close together share most of their windows: one matmul against every key of their span
    (at most SPAN_KEYS windows), then each row's band picked out, beats gathering (c, w+1, h, dh)
    keys. Scattered rows are gathered, ROW_CHUNK at a time.
    """
    a = 0
    while a < len(rows):
        seg = rows[a:a + SPAN_ROWS]
        wide = np.maximum.accumulate(seg) - np.minimum.accumulate(seg) + window + 1  # span of seg[:i+1]
        fits = int(np.searchsorted(wide, SPAN_KEYS * (window + 1), side="right"))
        if fits >= min(ROW_CHUNK, len(seg)):
            yield a, a + fits, True
            a += fits
        else:
            yield a, a + ROW_CHUNK, False
            a += ROW_CHUNK


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
    chunks = [top] if top is not None else _attention_chunks(layers[-1], rows, global_positions, window)
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
    below_rows, below_keys, below_weights = _mixed_rows(_attention_chunks(layer, wanted, global_positions, window))
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


def row_weights(att: RowAttention) -> dict[int, dict[int, float]]:
    """Head-averaged attention of each row as {key position: weight}."""
    return _as_dicts(row_weight_arrays(att))


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
    words: dict[tuple[int, int], float] = {}
    # Only the heaviest keys can make the top words; a row has w + g keys, and growing every one
    # of them to its word in Python cost more than the rest of linking on long documents.
    heaviest = _heaviest(weights, max(64, 8 * top))
    for position, weight in heaviest:
        if tokens.is_special[position]:
            continue
        start, end = (int(v) for v in tokens.offsets[position])
        start, end = _word_around(text, start, end)
        if start < exclude[1] and exclude[0] < end:
            continue
        word = text[start:end]
        if not _WORDISH.search(word) or word.lower() in STOPWORDS:
            continue
        words[(start, end)] = words.get((start, end), 0.0) + weight
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


def _word_around(text: str, start: int, end: int) -> tuple[int, int]:
    # Grow a word piece to its whole word: letters, digits and apostrophes/hyphens inside a word.
    while start > 0 and (text[start - 1].isalnum()) and text[start:end][:1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1:end].isalnum():
        end += 1
    return start, end


def weights_to_array(weights: dict[int, float], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    for k, w in weights.items():
        out[k] += w
    return out
