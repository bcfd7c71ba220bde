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
keeps the cost at O(rows * fanout * (w + g)).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .passages import TokenizedDocument
from .report import WeightedSpan

ROW_CHUNK = 64  # query rows per batched gather: 64 * (w + 1 + g) * d floats stay a few tens of MB
ROLLOUT_FANOUT = 16
# Words that draw attention in every sentence and explain nothing to a reviewer.
STOPWORDS = frozenset(
    "a an the and or but of to in on at for by with from as is are was were be been it its they them "
    "their this that these those he she his her we our us i you".split()
)

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
    keys_out, probs_out = [], []
    offsets = torch.arange(-half, half + 1, device=x.device)  # (w+1,)
    local_rows = rows[~is_global[rows]]
    global_rows = rows[is_global[rows]]
    for lo in range(0, int(local_rows.numel()), ROW_CHUNK):
        chunk = local_rows[lo:lo + ROW_CHUNK]  # (c,)
        q = layer.query(x[chunk]).view(-1, h, dh) * scale  # (c, h, dh)
        win = chunk[:, None] + offsets[None, :]  # (c, w+1)
        inside = (win >= 0) & (win < n)
        win_c = win.clamp(0, n - 1)
        win_ok = inside & ~is_global[win_c]  # global keys are counted once, on the global side
        s_win = torch.einsum("chd,cwhd->hcw", q, k_all[win_c])  # (h, c, w+1)
        s_glob = torch.einsum("chd,ghd->hcg", q, k_glob)  # (h, c, g)
        scores = torch.cat([s_win, s_glob], dim=-1)  # (h, c, w+1+g)
        ok = torch.cat([win_ok, torch.ones(len(chunk), g, dtype=torch.bool, device=x.device)], dim=1)
        probs = torch.softmax(scores.masked_fill(~ok[None], -math.inf), dim=-1)  # (h, c, w+1+g)
        keys = torch.cat([torch.where(win_ok, win, -1), global_positions[None].expand(len(chunk), g)], dim=1)
        keys_out.append(keys)
        probs_out.append(probs)
    width = window + 1 + g
    for row in global_rows.tolist():
        q = layer.query(x[row:row + 1]).view(1, h, dh) * scale  # (1, h, dh)
        probs = torch.softmax(torch.einsum("chd,nhd->hcn", q, k_all), dim=-1)  # (h, 1, n)
        top = torch.topk(probs.mean(dim=0)[0], min(width, n)).indices.sort().values  # (K,)
        keep = probs[:, :, top]
        pad = width - int(top.numel())
        keys_out.append(torch.cat([top, top.new_full((pad,), -1)])[None])
        probs_out.append(torch.nn.functional.pad(keep, (0, pad)))
    if not keys_out:
        return RowAttention(rows[:0], torch.zeros(0, width, dtype=torch.long), torch.zeros(h, 0, width))
    order = torch.cat([local_rows, global_rows])
    return RowAttention(order, torch.cat(keys_out), torch.cat(probs_out, dim=1))


def rollout(
    layers: Sequence[LayerAttention], rows: Tensor, global_positions: Tensor, window: int
) -> dict[int, dict[int, float]]:
    """Attention rollout for `rows` through the last layers (lowest first in `layers`)."""
    top = layers[-1]
    first = row_attention(top, rows, global_positions, window)
    current: dict[int, dict[int, float]] = {}
    for r, row in enumerate(first.rows.tolist()):
        mix = _mixed(first, r, row)
        current[row] = mix
    for layer in reversed(layers[:-1]):
        for row, dist in current.items():
            strongest = sorted(dist.items(), key=lambda kv: -kv[1])[:ROLLOUT_FANOUT]
            expand = torch.tensor([k for k, _ in strongest], dtype=torch.long)
            below = row_attention(layer, expand, global_positions, window)
            new: dict[int, float] = {}
            expanded = {k for k, _ in strongest}
            for key, weight in dist.items():
                if key not in expanded:  # the approximation: unexpanded mass passes straight down
                    new[key] = new.get(key, 0.0) + weight
            for r, key in enumerate(below.rows.tolist()):
                for k2, w2 in _mixed(below, r, key).items():
                    new[k2] = new.get(k2, 0.0) + dist[key] * w2
            current[row] = new
    return current


def _mixed(att: RowAttention, r: int, row: int) -> dict[int, float]:
    """0.5 * head-mean attention + 0.5 * identity, as a sparse row."""
    mean = att.probs[:, r].mean(dim=0).detach().float().cpu().numpy()  # (K,)
    # A global row keeps only its strongest keys: renormalize so rollout stays a distribution.
    mean = mean / max(float(mean.sum()), 1e-12)
    keys = att.keys[r].cpu().numpy()
    out: dict[int, float] = {}
    for k, w in zip(keys.tolist(), mean.tolist()):
        if k >= 0 and w > 0:
            out[k] = out.get(k, 0.0) + 0.5 * w
    out[row] = out.get(row, 0.0) + 0.5
    return out


def row_weights(att: RowAttention) -> dict[int, dict[int, float]]:
    """Head-averaged attention of each row as {key position: weight}."""
    mean = att.head_mean().detach().float().cpu().numpy()  # (r, K)
    keys = att.keys.cpu().numpy()
    out: dict[int, dict[int, float]] = {}
    for r, row in enumerate(att.rows.tolist()):
        valid = keys[r] >= 0
        out[row] = dict(zip(keys[r][valid].tolist(), mean[r][valid].tolist()))
    return out


_WORDISH = re.compile(r"\w")


def evidence_spans(
    tokens: TokenizedDocument, weights: dict[int, float], exclude: tuple[int, int], top: int
) -> tuple[WeightedSpan, ...]:
    """Key weights -> the `top` heaviest words (word pieces merged), normalized to sum to 1.

    `exclude` is the candidate's own character span: attention to itself is no evidence. Special
    tokens, punctuation and stopwords are skipped.
    """
    text = tokens.text
    words: dict[tuple[int, int], float] = {}
    # Only the heaviest keys can make the top words; a row has w + g keys, and growing every one
    # of them to its word in Python cost more than the rest of linking on long documents.
    heaviest = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: max(64, 8 * top)]
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
    best = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    total = sum(w for _, w in best)
    if total <= 0:
        return ()
    return tuple(
        WeightedSpan(s, e, text[s:e], w / total) for (s, e), w in sorted(best, key=lambda kv: kv[0])
    )


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
