"""The learned mention-ranking head: pair features -> a score per entity, plus a "no entity" score.

For one query mention m and each candidate entity e (a brand, or a named entity in training data):
    s(m, e) = MLP([v_m, v_e, v_m * v_e, f(m, e)])      s(m, none) = MLP_0([v_m, kind(m)])
and p = softmax over {none} + candidates. v_m is the mean final hidden state of m's word pieces,
v_e that of e's nearest anchor mention; f holds the attention and distance features listed in
FEATURES. The same code builds the features in training (differentiable through the encoder's
adapters) and in analysis, so the head sees one distribution.
"""
from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from brandscan.engine.errors import ModelError
from brandscan.engine.stages.linking.attribution import RowAttention
from brandscan.engine.text.words import opens_sentence

FEATURES = (
    "attention_mass",  # head-mean attention from m's word pieces to e's anchor tokens (last layer)
    "log_attention_mass",
    "max_cosine",  # of v_m with any of e's ANCHOR_WINDOW anchors nearest to m
    "nearest_cosine",
    "has_previous",  # an anchor of e precedes m
    "log_tokens_previous",  # log(1 + tokens back to it) / 10, capped at FEATURE_WINDOW tokens
    "has_next",
    "log_tokens_next",  # capped likewise
    # Passage distance is bucketed, not a number: past 3 passages it stops growing, so a brand
    # named 20 paragraphs back looks like one named 4 back (the head cannot learn a decay it never saw).
    "previous_same_passage",
    "previous_1_3_passages",
    "previous_far",
    "in_window",  # the nearest anchor is within the sliding window: attention can see it locally
    "log_anchors_before",  # salience so far
    "log_anchors_total",
    "salience_share",  # anchors of e before m / anchors before m of all candidates
    "only_previous",  # e is the only candidate named before m
    "most_recent",  # e's anchor is the nearest preceding one among the candidates
    "log_recency_rank",  # rank of e among the candidates by nearest preceding anchor
    "log_candidates",  # how many entities compete
    "anchor_sentence_initial",  # e's nearest preceding anchor opens its sentence (a subject proxy)
    "query_sentence_initial",  # m opens its sentence
    "parallel",  # both: the syntactic-parallelism heuristic
    "in_turn",  # m is inside a speaker turn ("Jane Roe, CFO, Acme: ...")
    "speaker_entity",  # the turn's label (or --author outside turns) names e: "we" there is usually e
    "speaker_other",  # it names another brand
    "noun_fits",  # m's head noun is among e's catalogue nouns, category or product nouns (a hint)
)
# Columns of the feature vector by name: row[Feature.HAS_PREVIOUS], never row[4].
Feature = enum.IntEnum("Feature", [name.upper() for name in FEATURES], start=0)
LEARNED = Feature.HAS_PREVIOUS  # columns before it come from tensors (attention, cosines), the rest from numpy
FAR_PASSAGES = 3
# The window the shipped head's token-distance features were trained with. The distance features are
# capped here whatever `--window` a run uses, so choosing a window never rescales what the head
# learned; only `in_window`, a fact about what attention can see, follows the run's window.
FEATURE_WINDOW = 256
# A brand's anchors a query's cosine features compare it with: the nearest this many by position, so
# a brand named 20,000 times costs a query no more than one named 16 times.
ANCHOR_WINDOW = 16


def log_token_distance(tokens: int) -> float:
    """log(1 + tokens) / 10, capped at FEATURE_WINDOW tokens: the head's distance scale."""
    return min(math.log1p(tokens), math.log1p(FEATURE_WINDOW)) / 10
KINDS = ("pronoun", "nominal", "first_person")  # product nominals count as nominals; aliases apart
# The sense of an ambiguous name ("Apple": the company or the fruit) is read from the name's own
# contextual vector and these facts, which an uncased encoder cannot see or which lie outside the window.
SENSE_FEATURES = (
    "capitalized",  # the name starts with a capital
    "all_caps",
    "sentence_initial",  # where a capital says nothing
    "log_brand_named",  # log(1 + unambiguous mentions of the brand in the document)
    "log_brand_named_in_passage",
    "log_other_brands_in_passage",  # other catalogue brands named in the passage: commercial text
)
NO_SPEAKER, OTHER_SPEAKER = -1, -2  # QuerySpec.speaker when no turn or author names a brand / names one not ranked


@dataclass(frozen=True)
class LinkingHeadConfig:
    hidden: int = 384  # the encoder's hidden size
    width: int = 128  # pair MLP width: small, the encoder adapters carry most of the capacity
    dropout: float = 0.1
    # The pair MLP reads the brand's anchor vector v_e (and v_m * v_e) only when True. Off by default:
    # on held-out brand documents the head without them linked better (link F1 0.676 against 0.640),
    # because v_e lets it memorise which brands are referred to, which does not carry over to a
    # user's brands; the cosine features keep what v_e says about m.
    entity_vectors: bool = False
    features: int = len(FEATURES)
    sense_features: int = len(SENSE_FEATURES)


@dataclass(frozen=True)
class QuerySpec:
    """One query for feature building: token positions are sequence positions."""

    tok_start: int
    tok_end: int
    kind: str  # one of KINDS
    entities: tuple[int, ...]  # candidate entity indices
    in_turn: bool = False  # inside a speaker turn
    speaker: int = NO_SPEAKER  # entity the turn's label or --author names; OTHER_SPEAKER: a brand not ranked
    fits: tuple[int, ...] = ()  # entities whose catalogue nouns, category or product nouns hold m's head noun


@dataclass(frozen=True)
class EntitySpec:
    anchors: tuple[tuple[int, int], ...]  # (tok_start, tok_end) per anchor, in order


class LinkingHead(nn.Module):
    def __init__(self, config: LinkingHeadConfig) -> None:
        super().__init__()
        self.config = config
        d, f, w = config.hidden, config.features, config.width
        pair_in = (3 * d if config.entity_vectors else d) + f
        self.pair = nn.Sequential(
            nn.Linear(pair_in, w), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(w, 1)
        )
        self.none = nn.Sequential(
            nn.Linear(d + len(KINDS) + 2, w // 2), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(w // 2, 1)
        )
        self.sense = nn.Sequential(
            nn.Linear(d + config.sense_features, w // 2), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(w // 2, 1)
        )
        # Calibration on held-out brand documents after training (training/linking_head.calibrate): a
        # shift of the "none" logit that balances links found against links right (best F1), and one of
        # the sense logit that balances brand and other senses (best mean of the two accuracies).
        self.register_buffer("none_shift", torch.zeros(()))
        self.register_buffer("sense_shift", torch.zeros(()))

    def sense_logits(self, vec: Tensor, feats: Tensor) -> Tensor:
        """vec (S, d) an ambiguous name's mean state, feats (S, SENSE_FEATURES) -> (S,) logit of the brand sense."""
        return self.sense(torch.cat([vec, feats], dim=-1)).squeeze(-1) + self.sense_shift

    def forward(self, qvec: Tensor, evec: Tensor, feats: Tensor, mask: Tensor, kind: Tensor) -> Tensor:
        """qvec (Q, d), evec (Q, E, d), feats (Q, E, F), mask (Q, E) bool, kind (Q, K+2) -> logits (Q, 1+E).

        `kind` is the one-hot kind plus the query's in_turn and has-a-speaker flags: whether "we" or
        "it" refers to any brand at all depends on them."""
        Q, E, _ = evec.shape
        qe = qvec[:, None, :].expand(Q, E, -1)  # (Q, E, d)
        parts = [qe, evec, qe * evec, feats] if self.config.entity_vectors else [qe, feats]
        pair = self.pair(torch.cat(parts, dim=-1)).squeeze(-1)  # (Q, E)
        pair = pair.masked_fill(~mask, -1e4)
        none = self.none(torch.cat([qvec, kind], dim=-1)) + self.none_shift  # (Q, 1)
        return torch.cat([none, pair], dim=-1)  # (Q, 1+E); column 0 = no entity


@dataclass(frozen=True, eq=False)
class FeatureContext:
    """What every chunk of a document's queries reads: anchors, their vectors, attention mass per row."""

    hidden: Tensor  # (n, d)
    anchor_vecs: Tensor  # (A, d) mean state of each anchor, entity by entity, in start order
    anchor_start: np.ndarray  # (A,) first token of each anchor
    first: np.ndarray  # (n_entities + 1,) offset of each entity's anchors in the flat arrays
    mass_rows: Tensor  # (r, n_entities) attention mass each attention row gave each entity's anchors
    row_index: np.ndarray  # (n,) position -> its row in mass_rows, -1 when not a row
    passage_of: np.ndarray  # (n,)
    initial: np.ndarray  # (n,) bool sentence-initial
    window: int


def _span_means(hidden: Tensor, spans: Sequence[tuple[int, int]]) -> Tensor:
    """(S, d) the mean state of each token span, in one index_add (linear, differentiable)."""
    if not spans:
        return hidden.new_zeros(0, hidden.shape[1])
    lengths = np.array([max(t - s, 1) for s, t in spans], dtype=np.int64)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    segment = np.repeat(np.arange(len(spans)), lengths)
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    tokens = torch.from_numpy(starts[segment] + offset).to(hidden.device)
    sums = hidden.new_zeros(len(spans), hidden.shape[1]).index_add(0, torch.from_numpy(segment).to(hidden.device),
                                                                   hidden[tokens])
    return sums / torch.from_numpy(lengths).to(device=hidden.device, dtype=hidden.dtype)[:, None]


def feature_context(hidden: Tensor, attention: RowAttention, passage_of: np.ndarray,
                    entities: Sequence[EntitySpec], window: int, initial: np.ndarray | None = None) -> FeatureContext:
    """The per-document part of the features, linear in tokens, anchors and attention rows."""
    n = hidden.shape[0]
    device = hidden.device
    spans = [sorted(e.anchors) for e in entities]
    flat = [span for anchors in spans for span in anchors]
    first = np.cumsum([0] + [len(a) for a in spans]).astype(np.int64)
    anchor_start = np.array([s for s, _ in flat], dtype=np.int64)
    n_ent = max(len(entities), 1)
    entity_of = torch.full((n + 1,), n_ent, dtype=torch.long, device=device)  # slot n_ent = no entity
    for e, anchors in enumerate(spans):
        for s, t in anchors:
            entity_of[s:t] = e
    keys = attention.keys
    slot = entity_of[torch.where(keys < 0, torch.full_like(keys, n), keys)]  # (r, K)
    probs = attention.head_mean()  # (r, K)
    per_row = probs.new_zeros(len(attention.rows), n_ent + 1).scatter_add(1, slot, probs)[:, :n_ent]
    row_index = np.full(n, -1, dtype=np.int64)
    row_index[attention.rows.cpu().numpy()] = np.arange(len(attention.rows))
    return FeatureContext(hidden, _span_means(hidden, flat), anchor_start, first, per_row, row_index, passage_of,
                          np.zeros(n, dtype=bool) if initial is None else initial, window)


def build_features(
    hidden: Tensor,
    attention: RowAttention,
    passage_of: np.ndarray,
    queries: Sequence[QuerySpec],
    entities: Sequence[EntitySpec],
    window: int,
    initial: np.ndarray | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Head inputs for every query: (qvec (Q,d), evec (Q,E,d), feats (Q,E,F), mask (Q,E), kind (Q,K+2)).

    `initial` (n,) bool marks tokens that open a sentence (sentence_initial()); None: all False.
    One call holds (Q, E, d) tensors: analysis calls chunk_features a chunk of queries at a time."""
    return chunk_features(feature_context(hidden, attention, passage_of, entities, window, initial), queries)


def chunk_features(ctx: FeatureContext, queries: Sequence[QuerySpec]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """build_features for some queries of the document `ctx` describes, vectorised over queries."""
    hidden = ctx.hidden
    device, dtype = hidden.device, hidden.dtype
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
    qvec = _span_means(hidden, list(zip(qs.tolist(), qe.tolist())))  # (Q, d)
    lengths = qe - qs
    segment = np.repeat(np.arange(Q), lengths)
    positions = np.repeat(qs, lengths) + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
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
    if len(ctx.anchor_start):
        cos = torch.nn.functional.normalize(qvec, dim=-1) @ torch.nn.functional.normalize(ctx.anchor_vecs, dim=-1).T
        near_t = torch.from_numpy(nearest).to(device)
        near_cos = torch.gather(cos, 1, near_t)  # (Q, E)
        windowed = torch.gather(cos, 1, torch.from_numpy(window_idx.reshape(Q, -1)).to(device)).reshape(Q, E, -1)
        max_cos = windowed.masked_fill(~torch.from_numpy(window_ok).to(device), -1.0).amax(dim=-1)
        evec = ctx.anchor_vecs[near_t] * mask[..., None]  # (Q, E, d)
    else:
        near_cos = max_cos = hidden.new_zeros(Q, E)
        evec = hidden.new_zeros(Q, E, hidden.shape[1])
    # ATTENTION_MASS, LOG_ATTENTION_MASS, MAX_COSINE, NEAREST_COSINE: in column order
    learned = torch.stack([mass, torch.log(mass + 1e-4), max_cos, near_cos], dim=-1)  # (Q, E, LEARNED)
    numeric_t = torch.from_numpy(numeric).to(device=device, dtype=dtype)
    feats = torch.cat([learned.to(dtype), numeric_t[..., LEARNED:]], dim=-1) * mask[..., None]
    return qvec, evec, feats, mask, torch.from_numpy(kind).to(device=device, dtype=dtype)


def sentence_initial(tokens, positions: Sequence[int] | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(n,) bool: the token opens a sentence (text start, after . ! ? : ; or a line break).

    Only `positions` are tested (all tokens when None), so a 100k-token document costs nothing
    beyond its candidates and anchors. A cheap subject proxy: a sentence-initial name is usually
    the subject, and a subject pronoun tends to refer back to a subject (syntactic parallelism).
    """
    text: str = tokens.text
    offsets = tokens.offsets
    special = tokens.is_special
    out = np.zeros(tokens.n_tokens, dtype=bool)
    for i in (range(tokens.n_tokens) if positions is None else positions):
        if special[i]:
            continue
        start = int(offsets[i, 0])
        if i > 0 and not special[i - 1] and int(offsets[i - 1, 1]) == start:
            continue  # a continuation piece of a word
        out[i] = opens_sentence(text, start)
    return out


def initial_positions(queries: Sequence[QuerySpec], entities: Sequence[EntitySpec]) -> list[int]:
    """The tokens build_features reads `initial` at: query starts and anchor starts."""
    return sorted({q.tok_start for q in queries} | {s for e in entities for s, _ in e.anchors})


def save_head(head: LinkingHead, path: str | Path, meta: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in head.state_dict().items()}
    metadata = {"config": json.dumps(asdict(head.config)), "features": json.dumps(FEATURES),
                "sense_features": json.dumps(SENSE_FEATURES), **(meta or {})}
    save_file(tensors, str(path), metadata=metadata)


def load_head(path: str | Path) -> LinkingHead:
    from brandscan.engine.model.loader import load_weights, read_safetensors

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no linking head here")
    tensors, metadata = read_safetensors(path)
    try:
        config = LinkingHeadConfig(**json.loads(metadata["config"]))
        features = tuple(json.loads(metadata.get("features", "[]")))
        sense_features = tuple(json.loads(metadata.get("sense_features", "[]")))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{path}: not a linking head: {error}") from None
    if features != FEATURES or sense_features != SENSE_FEATURES:
        raise ModelError(f"{path}: the head was trained with other features; retrain it")
    head = LinkingHead(config)
    load_weights(head, tensors, path)
    head.eval()
    return head
