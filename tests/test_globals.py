"""The global-token selection policy: budget, every brand kept, markers at a stride, regions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brandscan.engine.stages.globals import select_global_tokens


def test_everything_kept_under_budget():
    out = select_global_tokens(100, [0, 40, 80], [(5, "acme"), (50, "zeta"), (5, "acme")], budget=10)
    assert out.tolist() == [0, 5, 40, 50, 80]
    assert out.dtype == np.int64


def test_markers_at_coarse_stride_and_brands_by_region():
    markers = list(range(0, 10_000, 10))  # 1000 passages
    acme = [(p, "acme") for p in range(3, 10_000, 10)]  # mentioned in every passage
    rare = [(9_001, "rare")]
    out = select_global_tokens(10_000, markers, acme + rare, budget=64)
    assert len(out) == 64
    kept_markers = [p for p in out if p % 10 == 0]
    # a quarter of the budget, evenly spaced through the markers, first one included
    assert kept_markers == [10 * int(i * 1000 / 16) for i in range(16)]  # 0, 620, 1250, ...
    assert 9_001 in out  # the rarely mentioned brand keeps its only anchor
    kept_acme = [p for p in out if p % 10 == 3]
    assert len(kept_acme) == 64 - 16 - 1
    # one anchor per region of 10000/47 tokens, nearest the region centre
    centres = (np.arange(47) + 0.5) * (10_000 / 47)
    assert np.abs(np.asarray(kept_acme) - centres).max() <= 5


def test_more_brands_than_slots_keeps_most_mentioned():
    anchors = [(i, "big") for i in range(10, 20)] + [(30, "mid"), (31, "mid"), (40, "small")]
    out = select_global_tokens(50, [0, 25], anchors, budget=2)
    # a quarter of 2 slots is 0 for markers; the two most-mentioned brands get one anchor each,
    # the one nearest the centre of the document (token 25)
    assert out.tolist() == [19, 30]


def test_positions_out_of_range_rejected():
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        select_global_tokens(10, [0, 10], [], budget=5)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 3000),
    n_markers=st.integers(0, 300),
    anchor_specs=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from("abcdefgh")), max_size=400),
    budget=st.integers(0, 200),
)
def test_policy_properties(n, n_markers, anchor_specs, budget):
    markers = sorted({(i * 7919) % n for i in range(n_markers)})
    anchors = [(p % n, b) for p, b in anchor_specs]
    out = select_global_tokens(n, markers, anchors, budget=budget)
    everything = set(markers) | {p for p, _ in anchors}
    assert len(out) <= budget
    assert out.tolist() == sorted(set(out.tolist()))
    assert set(out.tolist()) <= everything
    if len(everything) <= budget:
        assert set(out.tolist()) == everything
    brands = {b for _, b in anchors}
    anchor_slots = len(out) - len([p for p in out if p in set(markers)])
    if budget - min(len(markers), max(budget // 4, 0)) >= len(brands):
        # enough room: every brand keeps at least one anchor
        by_brand = {b: {p for p, bb in anchors if bb == b} for b in brands}
        assert all(by_brand[b] & set(out.tolist()) for b in brands)
    assert anchor_slots >= 0
