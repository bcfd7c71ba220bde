"""Which tokens are global: passage markers and brand anchors, within a fixed budget.

Global tokens cost O(n) each (they attend to, and are attended by, every token), so their number is
capped by a budget (default 512) to keep the encoder's cost O(n * (w + budget)) however many
mentions a long document holds.

Policy, when markers and anchors together exceed the budget:
1. Split the budget. Markers get a quarter of it (or more when there are fewer anchors than the other
   three quarters), anchors get the rest; whatever one side cannot use goes to the other.
2. Markers at a coarse stride: the kept markers are evenly spaced through the list of markers (the
   first one always kept), so every part of the document keeps some passage summaries.
3. Anchors per brand: every brand keeps at least one anchor (if there are more brands than anchor
   slots, the brands with the most anchors win, ties to the earliest first mention). The anchor
   slots are shared between brands by water-filling (a brand with few anchors keeps all of them,
   the rest split what is left evenly). A brand with q slots cuts the document into q equal regions
   and keeps, for each region, its anchor nearest to the region's centre, so a brand mentioned all
   over a long document has an anchor near every part of it; anchors that two regions would share
   are replaced by the brand's unused anchors at evenly spaced ranks.
Cost: O(n_markers + n_anchors log n_anchors).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_GLOBAL_BUDGET = 512
MARKER_SHARE = 0.25  # of the budget, when anchors could use everything


def _even_pick(count: int, k: int) -> np.ndarray:
    """k indices evenly spaced over range(count), first included."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= count:
        return np.arange(count, dtype=np.int64)
    return np.floor(np.arange(k) * (count / k)).astype(np.int64)


def _water_fill(counts: np.ndarray, total: int) -> np.ndarray:
    """Slots per group: small groups keep all, the rest share evenly; sum == min(total, counts.sum())."""
    slots = np.zeros(len(counts), dtype=np.int64)
    remaining = total
    order = np.argsort(counts, kind="stable")
    for rank, group in enumerate(order):
        share = remaining // (len(order) - rank)
        slots[group] = min(int(counts[group]), share)
        remaining -= int(slots[group])
    # integer division can leave a few slots: hand them to groups that still have anchors
    for group in order[::-1]:
        if remaining == 0:
            break
        extra = min(remaining, int(counts[group] - slots[group]))
        slots[group] += extra
        remaining -= extra
    return slots


def _regional_anchors(positions: np.ndarray, slots: int, n_tokens: int) -> np.ndarray:
    """`slots` distinct anchors of one brand (sorted positions), one nearest to each region centre."""
    if slots >= len(positions):
        return positions
    centres = (np.arange(slots) + 0.5) * (n_tokens / slots)
    right = np.clip(np.searchsorted(positions, centres), 0, len(positions) - 1)
    left = np.clip(right - 1, 0, len(positions) - 1)
    nearest = np.where(np.abs(positions[left] - centres) <= np.abs(positions[right] - centres), left, right)
    chosen = np.unique(nearest)
    if len(chosen) < slots:
        unused = np.setdiff1d(np.arange(len(positions)), chosen, assume_unique=True)
        chosen = np.concatenate([chosen, unused[_even_pick(len(unused), slots - len(chosen))]])
    return positions[np.sort(chosen)]


def select_global_tokens(
    n_tokens: int,
    markers: Sequence[int],
    anchors: Sequence[tuple[int, str]],
    budget: int = DEFAULT_GLOBAL_BUDGET,
) -> np.ndarray:
    """Sorted, distinct token positions to make global (see the module docstring for the policy).

    markers: positions of passage markers ([CLS]); anchors: (position, brand key) of the first
    sub-token of each explicit brand mention. Returns at most `budget` positions (int64).
    """
    if budget < 0:
        raise ValueError(f"global budget must be >= 0, got {budget}")
    marker_pos = np.unique(np.asarray(list(markers), dtype=np.int64))
    by_brand: dict[str, list[int]] = {}
    for position, brand in anchors:
        by_brand.setdefault(brand, []).append(int(position))
    everything = np.concatenate([marker_pos, np.asarray([p for p, _ in anchors], dtype=np.int64)])
    if len(everything) and (everything.min() < 0 or everything.max() >= n_tokens):
        raise ValueError(f"global token positions must lie in [0, {n_tokens}), got {everything.min()}..{everything.max()}")
    if len(np.unique(everything)) <= budget:
        return np.unique(everything)
    brand_pos = [np.unique(np.asarray(p, dtype=np.int64)) for p in by_brand.values()]
    # a position that is both counts as an anchor, so that its brand's guarantee holds
    marker_pos = np.setdiff1d(marker_pos, np.concatenate(brand_pos)) if brand_pos else marker_pos
    n_anchor = sum(len(p) for p in brand_pos)

    marker_slots = min(len(marker_pos), max(int(budget * MARKER_SHARE), budget - n_anchor))
    anchor_slots = min(n_anchor, budget - marker_slots)
    marker_slots = min(len(marker_pos), budget - anchor_slots)
    kept = [marker_pos[_even_pick(len(marker_pos), marker_slots)]]

    counts = np.asarray([len(p) for p in brand_pos], dtype=np.int64)
    if anchor_slots < len(brand_pos):
        # more brands than slots: one anchor each for the most-mentioned brands (earliest first on ties)
        first = np.asarray([p[0] for p in brand_pos], dtype=np.int64)
        winners = np.lexsort((first, -counts))[:anchor_slots]
        slots = np.zeros(len(brand_pos), dtype=np.int64)
        slots[winners] = 1
    else:
        slots = _water_fill(counts - 1, anchor_slots - len(brand_pos)) + 1
    for positions, k in zip(brand_pos, slots):
        if k > 0:
            kept.append(_regional_anchors(positions, int(k), n_tokens))
    return np.unique(np.concatenate(kept))  # marker_slots + sum(slots) <= budget by construction
