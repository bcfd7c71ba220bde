"""Sliding-window + global sparse attention, computed blockwise at linear cost.

Semantics (the dense reference below states them as a mask):
- a non-global query i attends to every non-global key j with |i - j| <= w/2, and to every global key;
- a global query attends to every key;
- one softmax over that union (no key is counted twice); padded keys are never attended to and padded
  queries produce zeros.

Implementation: queries are cut into blocks of `block` tokens; each block sees one contiguous slab of
`block + w` keys (its neighbourhood), so the window part is one batched matrix product per chunk of
blocks. Global keys are a dense side product for every query, merged with the window part through a
shared, numerically stable log-sum-exp. Global queries run against all keys with an online softmax
over key chunks. For inference on CPU, each of these products (window slabs, global keys, global
queries per key chunk) goes through torch's fused flash-attention kernel, which returns its
log-sum-exp, and the partial results are merged by log-sum-exp; training (gradients), other devices
and `return_probs` take the explicit matrix-product path. Both paths are tested against the dense
reference. Queries are processed in chunks of `query_chunk` tokens, so the largest temporary is
O(query_chunk * (block + w + g)) and peak memory stays linear in n. No n x n tensor exists outside
`dense_reference_attention`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Query block length for the window product: a block of b queries needs b + w keys, so small blocks
# waste fewer key slots ((b + w) / (w + 1)) while large ones make fewer, larger kernel calls and copy
# fewer overlapping key slabs. Measured for w = 256 with the fused CPU kernel (8k tokens, CPU
# seconds): 9.3-10.0 at b = 64, 9.5-10.6 at 128, 8.2-8.5 at 256.
DEFAULT_BLOCK = 256
DEFAULT_QUERY_CHUNK = 4096


@dataclass
class SparseAttention:
    """Attention probabilities of one layer, kept sparse (never densified).

    Rows of padded queries are zero. A global query's full distribution is its row of
    `from_global`; its rows in `window` and `to_global` are zero, so for a non-global query
    `window[i].sum() + to_global[i].sum() == 1` and for a global one `from_global[g].sum() == 1`.
    """

    window: Tensor  # (B, h, n, w+1): query i to keys i-w/2 .. i+w/2; 0 outside the sequence and for global keys
    global_index: Tensor  # (B, g) int64 positions of global tokens, padded with -1 where rows differ
    to_global: Tensor  # (B, h, n, g): every query to the global keys
    from_global: Tensor  # (B, h, g, n): global queries to every key


@dataclass(frozen=True)
class GlobalLayout:
    """Where the global tokens are, per batch row, and which keys each part may use."""

    index: Tensor  # (B, g) int64 positions, -1 padded
    valid: Tensor  # (B, g) bool: index entry is a real global token
    key_valid: Tensor  # (B, n) bool: not padding
    window_key: Tensor  # (B, n) bool: valid and not global (global keys are counted on the global side)

    @property
    def gather_index(self) -> Tensor:
        return self.index.clamp(min=0)  # (B, g): -1 padding gathers position 0 and is masked out


def global_layout(global_mask: Tensor, key_valid: Tensor | None) -> GlobalLayout:
    """Positions of the global tokens of each row (padding tokens are never global)."""
    B, n = global_mask.shape
    if key_valid is None:
        key_valid = torch.ones(B, n, dtype=torch.bool, device=global_mask.device)
    is_global = global_mask.bool() & key_valid  # (B, n)
    counts = is_global.sum(dim=1)  # (B,)
    g = int(counts.max()) if B > 0 and n > 0 else 0
    # stable sort puts the global positions first, in order
    order = torch.argsort((~is_global).to(torch.int8), dim=1, stable=True)[:, :g]  # (B, g)
    valid = torch.arange(g, device=global_mask.device)[None, :] < counts[:, None]  # (B, g)
    index = torch.where(valid, order, torch.full_like(order, -1))
    return GlobalLayout(index=index, valid=valid, key_valid=key_valid, window_key=key_valid & ~is_global)


def gather_positions(x: Tensor, index: Tensor) -> Tensor:
    """x (B, n, ...) at positions index (B, g) -> (B, g, ...)."""
    idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 1, idx)


def pad_slab(t: Tensor, dim: int, lo: int, hi: int, fill: float | bool = 0) -> Tensor:
    """t[lo:hi] along `dim`, zero/fill padded where lo < 0 or hi > t.size(dim)."""
    size = t.size(dim)
    core = t.narrow(dim, max(lo, 0), max(0, min(hi, size) - max(lo, 0)))
    before, after = max(0, -lo), max(0, hi - size)
    if before == 0 and after == 0:
        return core
    pad = [0, 0] * (t.dim() - 1 - dim) + [before, after]
    if t.dtype == torch.bool:
        return F.pad(core.to(torch.uint8), pad, value=int(fill)).bool()
    return F.pad(core, pad, value=float(fill))


_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _use_fused(*tensors: Tensor) -> bool:
    """The fused CPU kernel (softmax, masking and both products in one pass, returning the
    log-sum-exp) serves inference; training and other devices take the explicit path."""
    if _FLASH_CPU is None or tensors[0].device.type != "cpu":
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _flash(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor) -> tuple[Tensor, Tensor]:
    """Fused attention with a boolean mask; (out (.., L, d), lse (.., L)), lse = -inf for rows with no key."""
    bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~allowed, -math.inf)
    out, lse = _FLASH_CPU(q, k, v, attn_mask=bias, scale=1.0)
    # the kernel reports lse = 0 (and out = 0) for a row whose keys are all masked
    empty = ~allowed.any(dim=-1)  # broadcastable to lse
    return out, lse.masked_fill(empty.expand_as(lse), -math.inf)


def _merge_lse(o1: Tensor, l1: Tensor, o2: Tensor, l2: Tensor) -> tuple[Tensor, Tensor]:
    """Two partial softmax results over disjoint key sets -> the softmax over their union."""
    m = torch.maximum(l1, l2)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)  # both empty: keep zeros, no NaN
    w1, w2 = torch.exp(l1 - m), torch.exp(l2 - m)  # (.., L)
    denom = w1 + w2
    inv = torch.where(denom > 0, 1.0 / denom, torch.zeros_like(denom))
    out = o1 * (w1 * inv)[..., None].to(o1.dtype) + o2 * (w2 * inv)[..., None].to(o2.dtype)
    return out, m + torch.log(denom)


def _batch_blocks(t: Tensor) -> Tensor:
    """(B, nb, h, L, d) -> (B*nb, h, L, d). With B = 1 this stays a strided view of the projection
    output (overlapping key slabs included): the fused kernel reads strides, so nothing is copied."""
    return t[0] if t.shape[0] == 1 else t.reshape(-1, *t.shape[2:])


def _window_global_fused(
    q: Tensor, k_slab: Tensor, v_slab: Tensor, slab_window_key: Tensor,
    k_glob: Tensor, v_glob: Tensor, glob_valid: Tensor, half: int, block: int,
) -> Tensor:
    B, h, Cp, d = q.shape
    nb, span = Cp // block, block + 2 * half
    qb = _batch_blocks(q.view(B, h, nb, block, d).transpose(1, 2))  # (B*nb, h, b, d)
    kw = _batch_blocks(k_slab.unfold(2, span, block).permute(0, 2, 1, 4, 3))  # (B*nb, h, span, d)
    vw = _batch_blocks(v_slab.unfold(2, span, block).permute(0, 2, 1, 4, 3))
    allowed = _band(block, half, q.device) & slab_window_key.unfold(1, span, block).reshape(B * nb, 1, span)
    o_w, l_w = _flash(qb, kw, vw, allowed[:, None])  # (B*nb, h, b, d), (B*nb, h, b)
    o_w = o_w.view(B, nb, h, block, d).transpose(1, 2).reshape(B, h, Cp, d)
    l_w = l_w.view(B, nb, h, block).transpose(1, 2).reshape(B, h, Cp)
    if k_glob.shape[2] == 0:
        return o_w
    o_g, l_g = _flash(q, k_glob, v_glob, glob_valid[:, None, None, :])  # (B, h, Cp, d), (B, h, Cp)
    return _merge_lse(o_w, l_w, o_g, l_g)[0]


def _shifted_exp(s: Tensor, m: Tensor) -> Tensor:
    """exp(s - m), in place when no gradient flows through s (saves a full-size temporary)."""
    if torch.is_grad_enabled() and s.requires_grad:
        return torch.exp(s - m)
    return s.sub_(m).exp_()


def _band(block: int, half: int, device: torch.device) -> Tensor:
    # query r of a block sits at slab offset r + half; it may see slab slots r .. r + 2*half
    r = torch.arange(block, device=device)[:, None]
    s = torch.arange(block + 2 * half, device=device)[None, :]
    return (s >= r) & (s <= r + 2 * half)  # (b, b + 2*half)


def window_global_attention(
    q: Tensor,
    k_slab: Tensor,
    v_slab: Tensor,
    slab_window_key: Tensor,
    k_glob: Tensor,
    v_glob: Tensor,
    glob_valid: Tensor,
    half: int,
    block: int,
    return_probs: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Attention of one chunk of queries over its window slab and the global keys.

    q is the chunk's queries, already scaled and padded to a multiple of `block` (Cp rows); the
    slab holds keys of positions c0 - half .. c0 + Cp + half (zero outside the sequence).
    Returns the output (B, h, Cp, d) and, if asked, window probabilities (B, h, Cp, w+1) and
    global-key probabilities (B, h, Cp, g).
    """
    if not return_probs and _use_fused(q, k_slab, v_slab, k_glob, v_glob):
        return _window_global_fused(q, k_slab, v_slab, slab_window_key, k_glob, v_glob, glob_valid, half, block), None, None
    B, h, Cp, d = q.shape
    nb, span = Cp // block, block + 2 * half
    kw = k_slab.unfold(2, span, block)  # (B, h, nb, d, span)
    vw = v_slab.unfold(2, span, block).transpose(-1, -2)  # (B, h, nb, span, d)
    s_win = torch.matmul(q.view(B, h, nb, block, d), kw)  # (B, h, nb, b, span)
    allowed = _band(block, half, q.device) & slab_window_key.unfold(1, span, block)[:, None, :, None, :]
    s_win.masked_fill_(~allowed, -math.inf)  # allowed: (B, 1, nb, b, span)
    s_glob = torch.matmul(q, k_glob.transpose(-1, -2))  # (B, h, Cp, g)
    s_glob.masked_fill_(~glob_valid[:, None, None, :], -math.inf)

    # one softmax over window and global keys: shared max, shared normaliser
    # the shift cancels in the softmax, so it carries no gradient
    m = s_win.detach().amax(dim=-1).view(B, h, Cp)  # (B, h, Cp)
    if s_glob.shape[-1] > 0:
        m = torch.maximum(m, s_glob.detach().amax(dim=-1))
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)  # rows with no key at all (padding)
    p_win = _shifted_exp(s_win, m.view(B, h, nb, block, 1))  # (B, h, nb, b, span)
    p_glob = _shifted_exp(s_glob, m[..., None])  # (B, h, Cp, g)
    denom = p_win.sum(dim=-1).view(B, h, Cp) + p_glob.sum(dim=-1)  # (B, h, Cp)
    inv = torch.where(denom > 0, 1.0 / denom, torch.zeros_like(denom))[..., None]  # (B, h, Cp, 1)
    out = torch.matmul(p_win, vw).view(B, h, Cp, d)  # (B, h, Cp, d)
    out = torch.baddbmm(
        out.view(B * h, Cp, d), p_glob.view(B * h, Cp, -1), v_glob.reshape(B * h, -1, d)
    ).view(B, h, Cp, d) if p_glob.shape[-1] > 0 else out
    out = out * inv
    if not return_probs:
        return out, None, None
    p_win = (p_win * inv.view(B, h, nb, block, 1)).contiguous()  # (B, h, nb, b, span)
    st = p_win.stride()
    # diagonal band: row r keeps slots r .. r + 2*half, i.e. keys i - half .. i + half
    band = p_win.as_strided((B, h, nb, block, 2 * half + 1), (st[0], st[1], st[2], st[3] + 1, 1))
    return out, band.reshape(B, h, Cp, 2 * half + 1), p_glob * inv


class GlobalQueryAttention:
    """Global queries against every key, one key chunk at a time (online softmax)."""

    def __init__(self, q_glob: Tensor, n: int, keep_scores: bool) -> None:
        self.q = q_glob  # (B, h, g, d), scaled
        B, h, g, d = q_glob.shape
        self.m = torch.full((B, h, g, 1), -1e30, dtype=q_glob.dtype, device=q_glob.device)
        self.l = torch.zeros((B, h, g, 1), dtype=q_glob.dtype, device=q_glob.device)
        self.acc = torch.zeros((B, h, g, d), dtype=q_glob.dtype, device=q_glob.device)
        # raw scores (B, h, g, n) kept only when probabilities are asked for
        self.scores = q_glob.new_full((B, h, g, n), -math.inf) if keep_scores else None
        self.out: Tensor | None = None  # fused path state
        self.lse: Tensor | None = None

    def update(self, k: Tensor, v: Tensor, key_valid: Tensor, start: int) -> None:
        """k, v (B, h, C, d) of positions start .. start + C; key_valid (B, C)."""
        if self.q.shape[2] == 0:
            return
        if self.scores is None and _use_fused(self.q, k, v):
            o, lse = _flash(self.q, k, v, key_valid[:, None, None, :])  # (B, h, g, d), (B, h, g)
            # running state as (normalised output, log-sum-exp): merge this chunk in
            if self.lse is None:
                self.out, self.lse = o, lse
            else:
                self.out, self.lse = _merge_lse(self.out, self.lse, o, lse)
            return
        s = torch.matmul(self.q, k.transpose(-1, -2))  # (B, h, g, C)
        s.masked_fill_(~key_valid[:, None, None, :], -math.inf)
        if self.scores is not None:
            self.scores[..., start : start + s.shape[-1]] = s
        m_new = torch.maximum(self.m, s.detach().amax(dim=-1, keepdim=True))  # (B, h, g, 1)
        scale = torch.exp(self.m - m_new)
        p = _shifted_exp(s, m_new)  # (B, h, g, C)
        self.l = self.l * scale + p.sum(dim=-1, keepdim=True)
        self.acc = self.acc * scale + torch.matmul(p, v)  # (B, h, g, d)
        self.m = m_new

    def log_normalizer(self) -> Tensor:
        """(B, h, g) the log of each global query's softmax sum over every key (its scores' log-sum-exp):
        what recomputing a global row's probabilities needs first (model/rows.py), kept by the encoder so
        that no pass over every key is made again for it."""
        if self.lse is not None:
            return self.lse
        return (self.m + torch.log(self.l)).squeeze(-1)

    def finish(self) -> tuple[Tensor, Tensor | None]:
        if self.out is not None:
            return self.out, None
        inv = torch.where(self.l > 0, 1.0 / self.l, torch.zeros_like(self.l))  # (B, h, g, 1)
        out = self.acc * inv  # (B, h, g, d)
        probs = None
        if self.scores is not None:
            probs = torch.exp(self.scores - self.m) * inv  # (B, h, g, n)
        return out, probs


def dense_sdpa(q: Tensor, k: Tensor, v: Tensor, key_valid: Tensor | None) -> Tensor:
    # every key is within every query's window: plain attention over the valid keys
    mask = None if key_valid is None else key_valid[:, None, None, :]  # (B, 1, 1, n)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, n, d)
    if key_valid is not None:
        out = torch.where(key_valid[:, None, :, None], out, torch.zeros_like(out))  # fully padded rows give NaN
    return out


def check_window(window: int) -> int:
    """w/2, after checking that w is a non-negative even number."""
    if window < 0 or window % 2:
        raise ValueError(f"window must be a non-negative even number of tokens, got {window}")
    return window // 2


def scatter_global_rows(out: Tensor, layout: GlobalLayout, rows: Tensor) -> None:
    """out (B, n, ...) [b, index[b, j]] = rows (B, g, ...)[b, j] for every valid j, in place."""
    b_idx, j_idx = layout.valid.nonzero(as_tuple=True)
    out[b_idx, layout.index[b_idx, j_idx]] = rows[b_idx, j_idx]


def sparse_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    global_mask: Tensor,
    window: int,
    key_padding_mask: Tensor | None = None,
    return_probs: bool = False,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    block: int = DEFAULT_BLOCK,
) -> tuple[Tensor, SparseAttention | None]:
    """Sliding-window + global attention.

    q, k, v: (B, h, n, d); global_mask: (B, n) bool, True = global token; key_padding_mask:
    (B, n) bool, True = real token, False = padding (the encoder's attention_mask convention).
    Returns the output (B, h, n, d) and, with return_probs, the sparse probabilities.
    """
    half = check_window(window)
    B, h, n, d = q.shape
    if not return_probs and n - 1 <= half:
        return dense_sdpa(q, k, v, key_padding_mask), None
    layout = global_layout(global_mask, key_padding_mask)
    block = max(1, min(block, n))
    chunk = max(block, query_chunk // block * block)
    q = q * (1.0 / math.sqrt(d))
    k_glob = gather_positions(k.transpose(1, 2), layout.gather_index).transpose(1, 2)  # (B, h, g, d)
    v_glob = gather_positions(v.transpose(1, 2), layout.gather_index).transpose(1, 2)  # (B, h, g, d)
    q_glob = gather_positions(q.transpose(1, 2), layout.gather_index).transpose(1, 2)  # (B, h, g, d)
    glob_attn = GlobalQueryAttention(q_glob, n, keep_scores=return_probs)
    out = torch.empty_like(q)  # (B, h, n, d)
    g = layout.index.shape[1]
    win_p = q.new_zeros((B, h, n, 2 * half + 1)) if return_probs else None
    to_g = q.new_zeros((B, h, n, g)) if return_probs else None
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        cp = -(-(c1 - c0) // block) * block  # chunk length rounded up to whole blocks
        o, pw, pg = window_global_attention(
            pad_slab(q, 2, c0, c0 + cp),
            pad_slab(k, 2, c0 - half, c0 + cp + half),
            pad_slab(v, 2, c0 - half, c0 + cp + half),
            pad_slab(layout.window_key, 1, c0 - half, c0 + cp + half, False),
            k_glob, v_glob, layout.valid, half, block, return_probs,
        )
        out[:, :, c0:c1] = o[:, :, : c1 - c0]
        if return_probs:
            win_p[:, :, c0:c1] = pw[:, :, : c1 - c0]
            to_g[:, :, c0:c1] = pg[:, :, : c1 - c0]
        glob_attn.update(k[:, :, c0:c1], v[:, :, c0:c1], layout.key_valid[:, c0:c1], c0)
    out_glob, from_g = glob_attn.finish()
    out_t = out.transpose(1, 2)  # (B, n, h, d) view, so the scatter writes into out
    scatter_global_rows(out_t, layout, out_glob.transpose(1, 2))
    qmask = layout.key_valid[:, None, :, None]  # (B, 1, n, 1)
    out = out.masked_fill(~qmask, 0.0)
    if not return_probs:
        return out, None
    probs = finalize_probs(win_p, to_g, from_g, layout)
    return out, probs


def finalize_probs(win_p: Tensor, to_g: Tensor, from_g: Tensor, layout: GlobalLayout) -> SparseAttention:
    """Zero the rows that belong elsewhere (global queries, padding) and the padded global slots."""
    is_row = layout.window_key[:, None, :, None]  # (B, 1, n, 1): non-global, valid queries
    win_p.masked_fill_(~is_row, 0.0)
    to_g.masked_fill_(~is_row, 0.0)
    from_g.masked_fill_(~layout.valid[:, None, :, None], 0.0)
    return SparseAttention(window=win_p, global_index=layout.index, to_global=to_g, from_global=from_g)


def dense_reference_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    global_mask: Tensor,
    window: int,
    key_padding_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The same semantics as an n x n mask: for tests only. Returns (out (B,h,n,d), probs (B,h,n,n))."""
    half = check_window(window)
    B, _, n, d = q.shape
    valid = torch.ones(B, n, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask.bool()
    glob = global_mask.bool() & valid  # (B, n)
    pos = torch.arange(n, device=q.device)
    near = (pos[:, None] - pos[None, :]).abs() <= half  # (n, n)
    allowed = (near[None] | glob[:, :, None] | glob[:, None, :]) & valid[:, None, :]  # (B, n, n)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)  # (B, h, n, n)
    scores = scores.masked_fill(~allowed[:, None], -math.inf)
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    probs = probs.masked_fill(~valid[:, None, :, None], 0.0)
    return torch.matmul(probs, v), probs
