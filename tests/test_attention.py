"""Sparse window + global attention against the dense masked reference."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brandscan.engine.model.attention import dense_reference_attention, sparse_attention


def densify(probs, n: int, window: int) -> torch.Tensor:
    """The sparse probabilities written back into an (B, h, n, n) matrix (tests only)."""
    B, h = probs.window.shape[:2]
    half = window // 2
    dense = torch.zeros(B, h, n, n)
    i = torch.arange(n)[:, None]
    j = i - half + torch.arange(window + 1)[None, :]  # (n, w+1) key of each window slot
    inside = (j >= 0) & (j < n)
    for b in range(B):
        for head in range(h):
            dense[b, head].index_put_((i.expand_as(j)[inside], j[inside]), probs.window[b, head][inside], accumulate=True)
        for slot, pos in enumerate(probs.global_index[b].tolist()):
            if pos >= 0:
                dense[b, :, :, pos] += probs.to_global[b, :, :, slot]
                dense[b, :, pos, :] += probs.from_global[b, :, slot, :]
    return dense


@st.composite
def attention_case(draw):
    B = draw(st.integers(1, 3))
    h = draw(st.integers(1, 3))
    n = draw(st.integers(1, 48))
    window = 2 * draw(st.integers(0, 12))
    d = draw(st.sampled_from([4, 8]))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    global_mask = torch.rand(B, n, generator=gen) < draw(st.sampled_from([0.0, 0.05, 0.3]))
    lengths = [draw(st.integers(1, n)) for _ in range(B)]
    padding = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]  # (B, n) True = real
    q, k, v = (torch.randn(B, h, n, d, generator=gen) * 2 for _ in range(3))
    chunk = draw(st.sampled_from([1, 5, 16, 4096]))
    block = draw(st.sampled_from([1, 3, 8, 64]))
    return q, k, v, global_mask, window, padding, chunk, block


@settings(max_examples=30, deadline=None)
@given(attention_case())
def test_sparse_equals_dense_reference(case):
    q, k, v, global_mask, window, padding, chunk, block = case
    ref_out, ref_probs = dense_reference_attention(q, k, v, global_mask, window, padding)
    out, probs = sparse_attention(q, k, v, global_mask, window, padding, return_probs=True,
                                  query_chunk=chunk, block=block)
    assert (out - ref_out).abs().max().item() < 1e-5
    assert (densify(probs, q.shape[2], window) - ref_probs).abs().max().item() < 1e-5
    fast, none = sparse_attention(q, k, v, global_mask, window, padding, query_chunk=chunk, block=block)
    assert none is None
    assert (fast - ref_out).abs().max().item() < 1e-5
    # with gradients the explicit (non-fused) path runs
    trained, _ = sparse_attention(q.requires_grad_(), k, v, global_mask, window, padding, query_chunk=chunk, block=block)
    assert (trained.detach() - ref_out).abs().max().item() < 1e-5


def test_gradients_match_dense_reference():
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 3, 45, 8, generator=gen).requires_grad_() for _ in range(3))
    global_mask = torch.zeros(2, 45, dtype=torch.bool)
    global_mask[:, [0, 17]] = True
    padding = torch.ones(2, 45, dtype=torch.bool)
    padding[1, 40:] = False
    weights = torch.randn(2, 3, 45, 8, generator=gen)
    out, _ = sparse_attention(q, k, v, global_mask, 10, padding, query_chunk=16, block=8)
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
    ref, _ = dense_reference_attention(q, k, v, global_mask, 10, padding)
    ref_grads = torch.autograd.grad((ref * weights).sum(), (q, k, v))
    for got, want in zip(grads, ref_grads):
        assert (got - want).abs().max().item() < 1e-5


def test_probabilities_sum_to_one_and_globals_are_not_counted_twice():
    torch.manual_seed(1)
    n, window = 40, 8
    q, k, v = (torch.randn(1, 2, n, 8) for _ in range(3))
    global_mask = torch.zeros(1, n, dtype=torch.bool)
    global_mask[0, [0, 3, 21]] = True
    _, probs = sparse_attention(q, k, v, global_mask, window, return_probs=True, query_chunk=16, block=4)
    assert probs.global_index.tolist() == [[0, 3, 21]]
    rows = probs.window.sum(-1) + probs.to_global.sum(-1)  # (1, 2, n)
    non_global = ~global_mask[0]
    assert torch.allclose(rows[0][:, non_global], torch.ones(2, int(non_global.sum())), atol=1e-6)
    assert torch.allclose(probs.from_global.sum(-1), torch.ones(1, 2, 3), atol=1e-6)
    # query 5 sees keys 1..9 in its window; key 3 is global, so its window slot (3 - 5 + 4 = 2) is 0
    assert probs.window[0, :, 5, 2].abs().max().item() == 0.0
    assert probs.window[0, :, 0, :4].abs().max().item() == 0.0  # keys -4..-1 are outside the sequence
    assert probs.window[0, :, 3].abs().max().item() == 0.0  # global query: its row lives in from_global


def test_padded_queries_are_zero_and_fully_padded_rows_stay_finite():
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 1, 10, 4) for _ in range(3))
    padding = torch.ones(2, 10, dtype=torch.bool)
    padding[0, 6:] = False
    padding[1, :] = False
    for window in (2, 64):  # blocked path and dense SDPA dispatch
        out, _ = sparse_attention(q, k, v, torch.zeros(2, 10, dtype=torch.bool), window, padding)
        assert torch.isfinite(out).all()
        assert out[0, :, 6:].abs().max().item() == 0.0
        assert out[1].abs().max().item() == 0.0


def test_long_sequence_never_builds_n_by_n():
    # 8k queries with w = 16: an n x n float32 score matrix would be 256 MB; the blocked kernel's
    # largest temporary is a chunk's (h, chunk, block + w + g) scores
    n = 8_000
    q, k, v = (torch.randn(1, 1, n, 4) for _ in range(3))
    global_mask = torch.zeros(1, n, dtype=torch.bool)
    global_mask[0, ::2000] = True
    out, _ = sparse_attention(q, k, v, global_mask, 16, query_chunk=512)
    # spot-check one non-global row against its exact neighbourhood
    i = 5_432
    keys = sorted(set(range(i - 8, i + 9)) | {0, 2000, 4000, 6000})
    s = (q[0, 0, i] @ k[0, 0, keys].T) / math.sqrt(4)
    expected = torch.softmax(s, -1) @ v[0, 0, keys]
    assert (out[0, 0, i] - expected).abs().max().item() < 1e-5


def test_odd_window_is_rejected():
    q = torch.zeros(1, 1, 4, 2)
    with pytest.raises(ValueError, match="even"):
        sparse_attention(q, q, q, torch.zeros(1, 4, dtype=torch.bool), 3)
