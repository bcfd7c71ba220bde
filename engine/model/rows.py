"""Attention of chosen query rows, recomputed exactly as the encoder computed them.

Nothing asks the encoder for its attention maps: those are (h, n, w+1) per layer, over a GB for a
100k-token document. Instead the input hidden states of a layer are kept (Encoder.forward's
`keep_layer_inputs`), and the probabilities are recomputed for the query rows a consumer needs only,
against exactly the keys the encoder used for them (the window, minus global keys, plus every global
key: one softmax over that union). The encoder's layers are post-LayerNorm, so a layer's queries and
keys are plain projections of its input: Layer.row_attention (encoder.py) builds a LayerAttention
from its own projections, and the recomputed rows equal the encoder's own.

A global query row attends to every key; such rows (ambiguous aliases that are anchors themselves)
are computed over all n keys, a block at a time, and kept sparse as their top `w + 1 + g` keys. Their
softmax sums come from the encoder's own pass when it kept them (LayerAttention.global_log_normalizer).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ROW_CHUNK = 64  # query rows per batched gather: 64 * (w + 1 + g) * d floats stay a few tens of MB
# Rows close together are scored against their whole span of keys, up to SPAN_ROWS rows spanning at
# most SPAN_KEYS windows: (h, 256, 8 * 257) floats, 25 MB.
SPAN_ROWS = 256
SPAN_KEYS = 8
# A global query row scores all n keys, KEY_BLOCK keys at a time: at most GLOBAL_SCORES scores per
# block of a chunk of such rows (64 MB).
GLOBAL_SCORES = 1 << 24
KEY_BLOCK = 16384


def per_head(t: Tensor) -> Tensor:
    """(m, h, dh) -> (h, m, dh), contiguous: the layout head_scores reads keys in."""
    return t.transpose(0, 1).contiguous()


def head_scores(q: Tensor, k_heads: Tensor) -> Tensor:
    """Queries (c, h, dh) against per_head keys (h, m, dh) -> scores (h, c, m), as einsum("chd,mhd->hcm")
    gives them, bit for bit. One batched product with both operands laid out per head: einsum permuted the
    keys to (h, dh, m) first, a transposing copy that cost four times the product itself on CPU (58 global
    rows against 16,384 bfloat16 keys: 14.5 ms, 3.3 ms here with the cheap (h, m, dh) copy included)."""
    return torch.bmm(per_head(q), k_heads.transpose(1, 2))


# A layer's query and key projections: hidden (m, d) -> (m, d), as the encoder computes them.
Projection = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LayerAttention:
    """What it takes to recompute one layer's attention rows."""

    inputs: Tensor  # (n, d) the layer's input hidden states
    query: Projection
    key: Projection
    heads: int
    # (h, g) each global query's log softmax sum over every key, as the encoder's pass found it, in the
    # order of the global positions; None: a global row finds it in a pass of its own
    global_log_normalizer: Tensor | None = None


@dataclass(frozen=True)
class RowAttention:
    """Sparse attention rows: row r gave probs[:, r, j] to sequence position keys[r, j]."""

    rows: Tensor  # (r,) int64 query positions
    keys: Tensor  # (r, K) int64 key positions, -1 where padded
    probs: Tensor  # (h, r, K) probabilities, 0 where padded

    def head_mean(self) -> Tensor:
        """(r, K) the heads' mean, in the probabilities' dtype. Summed in float32 and rounded once, which is
        what a 16-bit mean does too, at half its cost on CPU (a 16-bit reduction over the first dimension
        has no fast kernel there)."""
        if self.probs.dtype in (torch.float16, torch.bfloat16):
            return (self.probs.sum(dim=0, dtype=torch.float32) / self.probs.shape[0]).to(self.probs.dtype)
        return self.probs.mean(dim=0)


@dataclass(frozen=True, eq=False)
class LocalKeys:
    """The keys attention_chunks gives a local (non-global) row, derived from its position: the window
    around it (-1 outside the sequence and at global positions, which are counted once, on the global
    side), then every global position. A consumer that keeps many rows stores their weights only."""

    n: int
    window: int
    global_positions: np.ndarray  # (g,) int64
    is_global: np.ndarray  # (n,) bool

    @classmethod
    def of(cls, n: int, window: int, global_positions: np.ndarray) -> LocalKeys:
        is_global = np.zeros(n, dtype=bool)
        is_global[global_positions] = True
        return cls(n, window, np.asarray(global_positions, dtype=np.int64), is_global)

    def __call__(self, position: int) -> np.ndarray:
        # window_keys's layout for one row, in numpy: a torch call per row was most of reading a kept row.
        half = self.window // 2
        win = np.arange(position - half, position + half + 1)
        ok = (win >= 0) & (win < self.n) & ~self.is_global[np.clip(win, 0, self.n - 1)]
        return np.concatenate([np.where(ok, win, -1), self.global_positions])


def window_keys(rows: Tensor, half: int, is_global: Tensor) -> tuple[Tensor, Tensor]:
    """(c, w+1) each row's window positions, clamped into the sequence, and which of them are its local
    keys: inside the sequence and not global (global keys are counted once, on the global side).
    attention_chunks lays out local rows with it; LocalKeys.__call__ is the same for one row, in numpy."""
    n = is_global.shape[0]
    win = rows[:, None] + torch.arange(-half, half + 1, device=rows.device)[None, :]  # (c, w+1)
    win_c = win.clamp(0, n - 1)
    return win_c, (win >= 0) & (win < n) & ~is_global[win_c]


def row_attention(
    layer: LayerAttention, rows: Tensor, global_positions: Tensor, window: int
) -> RowAttention:
    """Exact attention probabilities of `rows` (the encoder's sparse pattern), differentiable."""
    h = layer.heads
    width = window + 1 + int(global_positions.numel())
    chunks = list(attention_chunks(layer, rows, global_positions, window))
    if not chunks:
        return RowAttention(rows[:0], torch.zeros(0, width, dtype=torch.long), torch.zeros(h, 0, width))
    return RowAttention(torch.cat([c.rows for c in chunks]), torch.cat([c.keys for c in chunks]),
                        torch.cat([c.probs for c in chunks], dim=1))


def attention_chunks(
    layer: LayerAttention, rows: Tensor, global_positions: Tensor, window: int
) -> Iterator[RowAttention]:
    """row_attention a chunk of rows at a time, local rows first, so that a caller that reduces each
    chunk as it comes never holds (h, rows, K) at once. Keys are projected where a chunk reads them,
    never for the whole document at once: (n, d) more floats would be 1.5 GB at 1M tokens."""
    x = layer.inputs
    n, d = x.shape
    h = layer.heads
    dh = d // h
    half = window // 2

    def keys_at(index: Tensor | slice) -> Tensor:
        return layer.key(x[index]).view(-1, h, dh)  # (m, h, dh)

    is_global = torch.zeros(n, dtype=torch.bool, device=x.device)
    is_global[global_positions] = True
    k_glob_heads = per_head(keys_at(global_positions))  # (h, g, dh)
    g = int(global_positions.numel())
    scale = 1.0 / math.sqrt(dh)
    local_rows = rows[~is_global[rows]]
    global_rows = rows[is_global[rows]]
    for a, b, span in _local_chunks(local_rows.cpu().numpy(), window):
        chunk = local_rows[a:b]  # (c,)
        q = layer.query(x[chunk]).view(-1, h, dh) * scale  # (c, h, dh)
        win_c, win_ok = window_keys(chunk, half, is_global)  # (c, w+1) each
        if span:
            first, last = int(win_c.min()), int(win_c.max()) + 1
            s_span = head_scores(q, per_head(keys_at(slice(first, last))))  # (h, c, S)
            s_win = s_span.gather(2, (win_c - first)[None].expand(h, -1, -1))  # (h, c, w+1)
        else:
            seen, where = torch.unique(win_c, return_inverse=True)  # each key projected once
            s_win = torch.einsum("chd,cwhd->hcw", q, keys_at(seen)[where])  # (h, c, w+1)
        s_glob = head_scores(q, k_glob_heads)  # (h, c, g)
        scores = torch.cat([s_win, s_glob], dim=-1)  # (h, c, w+1+g)
        ok = torch.cat([win_ok, torch.ones(len(chunk), g, dtype=torch.bool, device=x.device)], dim=1)
        probs = torch.softmax(scores.masked_fill(~ok[None], -math.inf), dim=-1)  # (h, c, w+1+g)
        keys = torch.cat([torch.where(win_ok, win_c, -1), global_positions[None].expand(len(chunk), g)], dim=1)
        yield RowAttention(chunk, keys, probs)
    width = window + 1 + g
    step = max(1, min(ROW_CHUNK, GLOBAL_SCORES // (h * KEY_BLOCK)))
    chunks = [global_rows[lo:lo + step] for lo in range(0, int(global_rows.numel()), step)]
    queries = [layer.query(x[chunk]).view(-1, h, dh) * scale for chunk in chunks]  # (c, h, dh) each
    normalizers = None
    if layer.global_log_normalizer is not None:
        normalizers = [layer.global_log_normalizer[:, torch.searchsorted(global_positions, chunk)] for chunk in chunks]
    for chunk, (keys, probs) in zip(chunks, _global_rows(queries, keys_at, n, width, normalizers)):
        pad = width - keys.shape[1]
        yield RowAttention(chunk, torch.nn.functional.pad(keys, (0, pad), value=-1),
                           torch.nn.functional.pad(probs, (0, pad)))


def _global_rows(queries: list[Tensor], keys_at: Callable[[Tensor | slice], Tensor], n: int,
                 width: int, log_normalizers: list[Tensor] | None = None) -> list[tuple[Tensor, Tensor]]:
    """A global row sees all n keys; it is kept as its `width` keys of most head-averaged attention.

    Two passes over the keys, KEY_BLOCK at a time: the softmax's running maximum and sum per head
    first (skipped when the encoder's pass kept each row's log-normalizer, (h, c) per chunk in
    `log_normalizers`), then each block's head-averaged probabilities, merged into the rows' running
    top keys. Only the kept keys' per-head probabilities are computed at the end: carrying
    (h, c, width + KEY_BLOCK) per block through the merge was most of the second pass. Each block's keys
    are projected once per pass for every chunk of rows (`queries`: global rows are at most the global
    budget, so their kept keys are small). Returns per chunk the kept keys (c, K) in position order and
    their probabilities (h, c, K), K = min(width, n)."""
    if not queries:
        return []
    blocks = [slice(s, min(s + KEY_BLOCK, n)) for s in range(0, n, KEY_BLOCK)]
    if log_normalizers is not None:  # probabilities are exp(score - log-normalizer): no sums to divide by
        tops, totals = log_normalizers, []
    else:
        tops, totals = _softmax_sums(queries, keys_at, blocks)

    def probabilities(i: int, scores: Tensor) -> Tensor:  # (h, c, m) scores, a temporary -> probabilities
        # In place on one copy at most (a 16-bit score promoted to the normalizer's float32): these are the
        # largest tensors of linking, and each extra pass over them cost as much as the product itself (a
        # subtraction that promotes as it goes took 1.5 times the cast and the in-place subtraction together).
        # Training (`train linking`) takes gradients through these rows, and autograd needs exp's output
        # unchanged: there every step makes its own tensor.
        scores = scores.to(torch.promote_types(scores.dtype, tops[i].dtype))
        if scores.requires_grad:
            p = torch.exp(scores - tops[i][..., None])
            return p if log_normalizers is not None else p / totals[i][..., None]
        p = scores.sub_(tops[i][..., None]).exp_()
        return p if log_normalizers is not None else p.div_(totals[i][..., None])

    kept = [(torch.zeros(q.shape[0], 0, dtype=torch.long, device=q.device), q.new_zeros(q.shape[0], 0))
            for q in queries]  # per chunk: kept positions (c, K) and their head-averaged probabilities
    for block in blocks:
        k = per_head(keys_at(block))  # (h, B, dh)
        for i, q in enumerate(queries):
            mean = probabilities(i, head_scores(q, k)).mean(dim=0)  # (c, B)
            positions = torch.arange(block.start, block.stop, device=q.device).expand(q.shape[0], -1)  # (c, B)
            kept_keys, kept_mean = torch.cat([kept[i][0], positions], dim=1), torch.cat([kept[i][1], mean], dim=1)
            if kept_keys.shape[1] > width:
                best = torch.topk(kept_mean, width, dim=-1).indices  # (c, width)
                kept_keys, kept_mean = kept_keys.gather(1, best), kept_mean.gather(1, best)
            kept[i] = (kept_keys, kept_mean)
    out = []
    for i, (q, (kept_keys, _)) in enumerate(zip(queries, kept)):
        kept_keys = kept_keys.sort(dim=-1).values  # (c, K) in position order
        c, K = kept_keys.shape
        k = keys_at(kept_keys.reshape(-1)).view(c, K, *q.shape[1:])  # (c, K, h, dh)
        out.append((kept_keys, probabilities(i, torch.einsum("chd,ckhd->hck", q, k))))
    return out


def _softmax_sums(queries: list[Tensor], keys_at: Callable[[Tensor | slice], Tensor],
                  blocks: list[slice]) -> tuple[list[Tensor], list[Tensor]]:
    """Per chunk of global rows, each row's largest score and its softmax sum relative to it, (h, c) each,
    from one pass over the key blocks (a running maximum and sum)."""
    tops = [torch.full((q.shape[1], q.shape[0]), -math.inf, dtype=q.dtype, device=q.device) for q in queries]
    totals = [torch.zeros(q.shape[1], q.shape[0], dtype=q.dtype, device=q.device) for q in queries]
    for block in blocks:
        k = per_head(keys_at(block))  # (h, B, dh)
        for i, q in enumerate(queries):
            scores = head_scores(q, k)  # (h, c, B)
            new_top = torch.maximum(tops[i], scores.amax(dim=-1))
            totals[i] = totals[i] * torch.exp(tops[i] - new_top) + torch.exp(scores - new_top[..., None]).sum(dim=-1)
            tops[i] = new_top
    return tops, totals


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
