"""The linking head's inputs: per query, per brand, the vectors and the FEATURES (head.py names them).

feature_context computes a document's share once (anchor states, attention mass per attention row,
linear in tokens, anchors and rows); chunk_features builds the inputs for a chunk of queries,
vectorised over queries. The same code serves training (differentiable through the states) and
analysis, so the head sees one distribution.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.model.rows import RowAttention
from brandscan.engine.stages.linking.head import (
    ANCHOR_WINDOW,
    FAR_PASSAGES,
    FEATURE_WINDOW,
    FEATURES,
    KINDS,
    LEARNED,
    NO_SPEAKER,
    EntitySpec,
    Feature,
    QuerySpec,
)


@dataclass(frozen=True, eq=False)
class FeatureContext:
    """What every chunk of a document's queries reads: anchors, their vectors, attention mass per row."""

    hidden: Tensor  # (n, d) the document's states, in their own dtype
    dtype: torch.dtype  # the head's: every vector and feature read from `hidden` is converted to it
    anchor_vecs: Tensor  # (A, d) mean state of each anchor, entity by entity, in start order
    anchor_start: np.ndarray  # (A,) first token of each anchor
    first: np.ndarray  # (n_entities + 1,) offset of each entity's anchors in the flat arrays
    mass_rows: Tensor  # (r, n_entities) attention mass each attention row gave each entity's anchors
    row_index: np.ndarray  # (n,) position -> its row in mass_rows, -1 when not a row
    passage_of: np.ndarray  # (n,)
    initial: np.ndarray  # (n,) bool sentence-initial
    window: int
    profiles: Tensor | None = None  # (n_entities, d) unit profile vectors (profiles.py); None: none known
    none_context: int = 0  # tokens either side of a query whose mean state joins its "no brand" inputs (0: none)


def span_tokens(spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(segment, position) of every token of every span, flattened: span i's tokens carry segment i."""
    lengths = np.array([t - s for s, t in spans], dtype=np.int64)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    segment = np.repeat(np.arange(len(spans)), lengths)
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return segment, starts[segment] + offset


def span_means(hidden: Tensor, spans: Sequence[tuple[int, int]], dtype: torch.dtype | None = None) -> Tensor:
    """(S, d) the mean state of each (non-empty) token span, in one index_add (linear, differentiable),
    in `dtype` (default: the states'): only the spans' rows are converted, never the whole document."""
    dtype = dtype or hidden.dtype
    if not spans:
        return hidden.new_zeros(0, hidden.shape[1], dtype=dtype)
    segment, positions = span_tokens(spans)
    device = hidden.device
    rows = hidden[torch.from_numpy(positions).to(device)].to(dtype)
    sums = rows.new_zeros(len(spans), hidden.shape[1]).index_add(0, torch.from_numpy(segment).to(device), rows)
    lengths = np.maximum(np.bincount(segment, minlength=len(spans)), 1)
    return sums / torch.from_numpy(lengths).to(device=device, dtype=dtype)[:, None]


# Attention rows whose entity slots are gathered at once: (ROW_BLOCK, K) int64 temporaries, a few MB.
ROW_BLOCK = 2048


@dataclass(frozen=True, eq=False)
class RowMass:
    """Attention mass each attention row gave each entity's anchors, heads averaged."""

    rows: Tensor  # (r,) int64 query positions
    mass: Tensor  # (r, n_entities)


def entity_slots(n: int, entities: Sequence[EntitySpec], device: torch.device | str = "cpu") -> Tensor:
    """(n + 1,) each position's entity index (anchor tokens only); len(entities) (at least 1)
    elsewhere and at slot n, where padded keys (-1) point."""
    n_ent = max(len(entities), 1)
    entity_of = torch.full((n + 1,), n_ent, dtype=torch.long, device=device)
    for e, spec in enumerate(entities):
        for s, t in spec.anchors:
            entity_of[s:t] = e
    return entity_of


def row_mass(attention: RowAttention, entity_of: Tensor) -> RowMass:
    """RowMass of `attention`, ROW_BLOCK rows at a time (differentiable): a document with tens of
    thousands of rows never holds their (r, K) entity slots at once."""
    n = entity_of.shape[0] - 1
    n_ent = int(entity_of[n])
    probs = attention.head_mean()  # (r, K)
    parts = []
    for at in range(0, max(len(attention.rows), 1), ROW_BLOCK):
        keys = attention.keys[at:at + ROW_BLOCK]
        slot = entity_of[torch.where(keys < 0, n, keys)]  # (b, K)
        block = probs[at:at + ROW_BLOCK]
        parts.append(block.new_zeros(len(keys), n_ent + 1).scatter_add(1, slot, block)[:, :n_ent])
    return RowMass(attention.rows, torch.cat(parts))


def feature_context(hidden: Tensor, attention: RowAttention | RowMass, passage_of: np.ndarray,
                    entities: Sequence[EntitySpec], window: int, initial: np.ndarray | None = None,
                    dtype: torch.dtype | None = None, profiles: Tensor | None = None,
                    none_context: int = 0) -> FeatureContext:
    """The per-document part of the features, linear in tokens, anchors and attention rows; vectors
    in `dtype` (default: the states'). `profiles` (len(entities), d): each entity's unit profile vector
    (profiles.py), or None where the data has no catalogue (GAP's people): profile_cosine is then 0.
    `none_context` > 0 (LinkingHeadConfig.none_context): the kind rows also carry the mean state of each
    query with that many tokens either side."""
    dtype = dtype or hidden.dtype
    n = hidden.shape[0]
    spans = [sorted(e.anchors) for e in entities]
    flat = [span for anchors in spans for span in anchors]
    first = np.cumsum([0] + [len(a) for a in spans]).astype(np.int64)
    anchor_start = np.array([s for s, _ in flat], dtype=np.int64)
    if isinstance(attention, RowAttention):
        attention = row_mass(attention, entity_slots(n, entities, hidden.device))
    row_index = np.full(n, -1, dtype=np.int64)
    row_index[attention.rows.cpu().numpy()] = np.arange(len(attention.rows))
    return FeatureContext(hidden, dtype, span_means(hidden, flat, dtype), anchor_start, first, attention.mass, row_index,
                          passage_of, np.zeros(n, dtype=bool) if initial is None else initial, window,
                          None if profiles is None else profiles.to(device=hidden.device, dtype=dtype), none_context)


def build_features(
    hidden: Tensor,
    attention: RowAttention,
    passage_of: np.ndarray,
    queries: Sequence[QuerySpec],
    entities: Sequence[EntitySpec],
    window: int,
    initial: np.ndarray | None = None,
    dtype: torch.dtype | None = None,
    profiles: Tensor | None = None,
    none_context: int = 0,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Head inputs for every query: (qvec (Q,d), evec (Q,E,d), feats (Q,E,F), mask (Q,E), kind (Q,K+2), or
    (Q,K+2+d) with `none_context`), in `dtype` (the head's; None: the states'), whatever dtype the states are
    stored in.

    `initial` (n,) bool marks tokens that open a sentence (sentence_initial()); None: all False.
    One call holds (Q, E, d) tensors: analysis calls chunk_features a chunk of queries at a time."""
    return chunk_features(feature_context(hidden, attention, passage_of, entities, window, initial, dtype, profiles,
                                          none_context), queries)


def chunk_features(ctx: FeatureContext, queries: Sequence[QuerySpec]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """build_features for some queries of the document `ctx` describes, vectorised over queries."""
    hidden = ctx.hidden
    device, dtype = hidden.device, ctx.dtype
    Q = len(queries)
    E = max([len(q.entities) for q in queries] + [1])
    ent = np.full((Q, E), -1, dtype=np.int64)
    for qi, q in enumerate(queries):
        ent[qi, :len(q.entities)] = q.entities
    valid = ent >= 0
    qs = np.array([q.tok_start for q in queries], dtype=np.int64)
    qe = np.array([q.tok_end for q in queries], dtype=np.int64)

    # Per (query, entity): anchors before, the previous and next anchor, the nearest one.
    before = np.zeros((Q, E), dtype=np.int64)
    total = np.zeros((Q, E), dtype=np.int64)
    previous = np.full((Q, E), -1, dtype=np.int64)
    following = np.full((Q, E), -1, dtype=np.int64)  # first anchor starting at or after the query's end
    nearest = np.zeros((Q, E), dtype=np.int64)  # index into the flat anchors
    closest = np.full((Q, E), np.iinfo(np.int64).max, dtype=np.int64)  # token distance to the nearest anchor
    window_idx = np.zeros((Q, E, ANCHOR_WINDOW), dtype=np.int64)
    window_ok = np.zeros((Q, E, ANCHOR_WINDOW), dtype=bool)
    for e in np.unique(ent[valid]):
        qi, ei = np.nonzero(ent == e)
        lo, hi = int(ctx.first[e]), int(ctx.first[e + 1])
        starts = ctx.anchor_start[lo:hi]
        count = len(starts)
        if not count:
            continue
        pos = qs[qi]
        cb = np.searchsorted(starts, pos, side="left")  # anchors starting before the query
        ca = np.searchsorted(starts, qe[qi], side="left")
        before[qi, ei], total[qi, ei] = cb, count
        prev = np.where(cb > 0, starts[np.maximum(cb - 1, 0)], -1)
        nxt0 = np.where(cb < count, starts[np.minimum(cb, count - 1)], -1)
        previous[qi, ei] = prev
        following[qi, ei] = np.where(ca < count, starts[np.minimum(ca, count - 1)], -1)
        # Ties go to the earlier anchor: one at or after the query counts one token farther.
        take_prev = (cb > 0) & ((cb >= count) | (pos - prev <= nxt0 - pos + 1))
        nearest[qi, ei] = lo + np.where(take_prev, cb - 1, cb)
        closest[qi, ei] = np.minimum(np.where(cb > 0, pos - prev, closest[qi, ei]),
                                     np.where(cb < count, nxt0 - pos, closest[qi, ei]))
        first = np.clip(cb - ANCHOR_WINDOW // 2, 0, max(count - ANCHOR_WINDOW, 0))
        local = first[:, None] + np.arange(ANCHOR_WINDOW)[None, :]
        window_ok[qi, ei] = local < count
        window_idx[qi, ei] = lo + np.minimum(local, count - 1)

    numeric = np.zeros((Q, E, len(FEATURES)), dtype=np.float32)
    has_prev = before > 0
    cap = math.log1p(FEATURE_WINDOW)
    numeric[..., Feature.HAS_PREVIOUS] = has_prev
    numeric[..., Feature.LOG_TOKENS_PREVIOUS] = np.where(
        has_prev, np.minimum(np.log1p(np.maximum(qs[:, None] - previous, 0)), cap) / 10, 0.0)
    has_next = following >= 0
    numeric[..., Feature.HAS_NEXT] = has_next
    numeric[..., Feature.LOG_TOKENS_NEXT] = np.where(
        has_next, np.minimum(np.log1p(np.maximum(following - qs[:, None], 0)), cap) / 10, 0.0)
    back = ctx.passage_of[qs][:, None] - ctx.passage_of[np.maximum(previous, 0)]
    numeric[..., Feature.PREVIOUS_SAME_PASSAGE] = has_prev & (back == 0)
    numeric[..., Feature.PREVIOUS_1_3_PASSAGES] = has_prev & (back > 0) & (back <= FAR_PASSAGES)
    numeric[..., Feature.PREVIOUS_FAR] = has_prev & (back > FAR_PASSAGES)
    numeric[..., Feature.IN_WINDOW] = closest <= ctx.window // 2
    numeric[..., Feature.LOG_ANCHORS_BEFORE] = np.log1p(before)
    numeric[..., Feature.LOG_ANCHORS_TOTAL] = np.log1p(total)
    all_before = (before * valid).sum(axis=1, keepdims=True)
    numeric[..., Feature.SALIENCE_SHARE] = np.where(all_before > 0, before / np.maximum(all_before, 1), 0.0)
    named = has_prev & valid
    numeric[..., Feature.ONLY_PREVIOUS] = named & (named.sum(axis=1, keepdims=True) == 1)
    # Rank by the nearest preceding anchor, later first; ties (none before) keep entity order.
    p = np.where(valid, previous, -2)
    order = np.arange(E)
    ahead = (p[:, None, :] > p[:, :, None]) | ((p[:, None, :] == p[:, :, None]) & (order[None, :] < order[:, None])[None])
    rank = (ahead & valid[:, None, :]).sum(axis=2)
    numeric[..., Feature.MOST_RECENT] = has_prev & (rank == 0)
    numeric[..., Feature.LOG_RECENCY_RANK] = np.log1p(rank)
    numeric[..., Feature.LOG_CANDIDATES] = np.log1p(valid.sum(axis=1, keepdims=True))
    a_initial = np.where(has_prev, ctx.initial[np.maximum(previous, 0)], False)
    q_initial = ctx.initial[qs][:, None]
    numeric[..., Feature.ANCHOR_SENTENCE_INITIAL] = a_initial
    numeric[..., Feature.QUERY_SENTENCE_INITIAL] = q_initial
    numeric[..., Feature.PARALLEL] = a_initial & q_initial
    speaker = np.array([q.speaker for q in queries], dtype=np.int64)[:, None]
    numeric[..., Feature.IN_TURN] = np.array([q.in_turn for q in queries])[:, None]
    numeric[..., Feature.SPEAKER_ENTITY] = speaker == ent
    numeric[..., Feature.SPEAKER_OTHER] = (speaker != NO_SPEAKER) & (speaker != ent)
    for qi, q in enumerate(queries):
        for ei, e in enumerate(q.entities):
            numeric[qi, ei, Feature.NOUN_FITS] = e in q.fits
    numeric *= valid[..., None]

    kind = np.zeros((Q, len(KINDS) + 2), dtype=np.float32)
    for qi, q in enumerate(queries):
        kind[qi, KINDS.index(q.kind if q.kind in KINDS else "nominal")] = 1.0
        kind[qi, len(KINDS)] = float(q.in_turn)
        kind[qi, len(KINDS) + 1] = float(q.speaker != NO_SPEAKER)

    # The learned columns: attention mass and cosines, differentiable through the states.
    qvec = span_means(hidden, list(zip(qs.tolist(), qe.tolist())), dtype)  # (Q, d)
    segment, positions = span_tokens(list(zip(qs.tolist(), qe.tolist())))
    rows = ctx.row_index[positions]
    kept = rows >= 0
    n_ent = ctx.mass_rows.shape[1]
    mass_sum = ctx.mass_rows.new_zeros(Q, n_ent).index_add(
        0, torch.from_numpy(segment[kept]).to(device), ctx.mass_rows[torch.from_numpy(rows[kept]).to(device)])
    row_count = np.maximum(np.bincount(segment[kept], minlength=Q), 1)
    mass_q = mass_sum / torch.from_numpy(row_count).to(device=device, dtype=mass_sum.dtype)[:, None]
    ent_t = torch.from_numpy(np.maximum(ent, 0)).to(device)
    mask = torch.from_numpy(valid).to(device)
    mass = torch.gather(mass_q, 1, ent_t)  # (Q, E)
    unit_q = torch.nn.functional.normalize(qvec, dim=-1)  # (Q, d)
    if len(ctx.anchor_start):
        cos = unit_q @ torch.nn.functional.normalize(ctx.anchor_vecs, dim=-1).T
        near_t = torch.from_numpy(nearest).to(device)
        near_cos = torch.gather(cos, 1, near_t)  # (Q, E)
        windowed = torch.gather(cos, 1, torch.from_numpy(window_idx.reshape(Q, -1)).to(device)).reshape(Q, E, -1)
        max_cos = windowed.masked_fill(~torch.from_numpy(window_ok).to(device), -1.0).amax(dim=-1)
        evec = ctx.anchor_vecs[near_t] * mask[..., None]  # (Q, E, d)
    else:
        near_cos = max_cos = hidden.new_zeros(Q, E, dtype=dtype)
        evec = hidden.new_zeros(Q, E, hidden.shape[1], dtype=dtype)
    if ctx.profiles is not None and len(ctx.profiles):
        profile_cos = torch.gather(unit_q @ ctx.profiles.T, 1, ent_t)  # (Q, E)
    else:
        profile_cos = torch.zeros_like(mass)
    # ATTENTION_MASS, LOG_ATTENTION_MASS, MAX_COSINE, NEAREST_COSINE, PROFILE_COSINE: in column order
    learned = torch.stack([mass, torch.log(mass + 1e-4), max_cos, near_cos, profile_cos], dim=-1)  # (Q, E, LEARNED)
    numeric_t = torch.from_numpy(numeric).to(device=device, dtype=dtype)
    feats = torch.cat([learned.to(dtype), numeric_t[..., LEARNED:]], dim=-1) * mask[..., None]
    kind_t = torch.from_numpy(kind).to(device=device, dtype=dtype)
    if ctx.none_context:
        n, c = hidden.shape[0], ctx.none_context
        around = [(max(0, s - c), min(n, e + c)) for s, e in zip(qs.tolist(), qe.tolist())]
        kind_t = torch.cat([kind_t, span_means(hidden, around, dtype)], dim=-1)  # (Q, K+2+d)
    return qvec, evec, feats, mask, kind_t
