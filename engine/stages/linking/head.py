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
    "max_cosine",  # of v_m with any anchor of e
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
)
# Columns of the feature vector by name: row[Feature.HAS_PREVIOUS], never row[4].
Feature = enum.IntEnum("Feature", [name.upper() for name in FEATURES], start=0)
LEARNED = Feature.HAS_PREVIOUS  # columns before it come from tensors (attention, cosines), the rest from numpy
FAR_PASSAGES = 3
# The window the shipped head's token-distance features were trained with. The distance features are
# capped here whatever `--window` a run uses, so choosing a window never rescales what the head
# learned; only `in_window`, a fact about what attention can see, follows the run's window.
FEATURE_WINDOW = 256


def log_token_distance(tokens: int) -> float:
    """log(1 + tokens) / 10, capped at FEATURE_WINDOW tokens: the head's distance scale."""
    return min(math.log1p(tokens), math.log1p(FEATURE_WINDOW)) / 10
KINDS = ("pronoun", "nominal")  # product nominals count as nominals; aliases are decided apart


@dataclass(frozen=True)
class LinkingHeadConfig:
    hidden: int = 384  # the encoder's hidden size
    width: int = 128  # pair MLP width: small, the encoder adapters carry most of the capacity
    dropout: float = 0.1
    features: int = len(FEATURES)


@dataclass(frozen=True)
class QuerySpec:
    """One query for feature building: token positions are sequence positions."""

    tok_start: int
    tok_end: int
    kind: str  # one of KINDS
    entities: tuple[int, ...]  # candidate entity indices


@dataclass(frozen=True)
class EntitySpec:
    anchors: tuple[tuple[int, int], ...]  # (tok_start, tok_end) per anchor, in order


class LinkingHead(nn.Module):
    def __init__(self, config: LinkingHeadConfig) -> None:
        super().__init__()
        self.config = config
        d, f, w = config.hidden, config.features, config.width
        self.pair = nn.Sequential(
            nn.Linear(3 * d + f, w), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(w, 1)
        )
        self.none = nn.Sequential(
            nn.Linear(d + len(KINDS), w // 2), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(w // 2, 1)
        )

    def forward(self, qvec: Tensor, evec: Tensor, feats: Tensor, mask: Tensor, kind: Tensor) -> Tensor:
        """qvec (Q, d), evec (Q, E, d), feats (Q, E, F), mask (Q, E) bool, kind (Q, K) -> logits (Q, 1+E)."""
        Q, E, _ = evec.shape
        qe = qvec[:, None, :].expand(Q, E, -1)  # (Q, E, d)
        pair = self.pair(torch.cat([qe, evec, qe * evec, feats], dim=-1)).squeeze(-1)  # (Q, E)
        pair = pair.masked_fill(~mask, -1e4)
        none = self.none(torch.cat([qvec, kind], dim=-1))  # (Q, 1)
        return torch.cat([none, pair], dim=-1)  # (Q, 1+E); column 0 = no entity


def build_features(
    hidden: Tensor,
    attention: RowAttention,
    passage_of: np.ndarray,
    queries: Sequence[QuerySpec],
    entities: Sequence[EntitySpec],
    window: int,
    initial: np.ndarray | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Head inputs for every query: (qvec (Q,d), evec (Q,E,d), feats (Q,E,F), mask (Q,E), kind (Q,K)).

    `initial` (n,) bool marks tokens that open a sentence (sentence_initial()); None: all False.
    """
    device, dtype = hidden.device, hidden.dtype
    n, d = hidden.shape
    Q = len(queries)
    E = max((len(q.entities) for q in queries), default=0)
    E = max(E, 1)

    # Anchor vectors and their entity, (A, d) / (A,)
    anchor_spans = [(e, s, t) for e, ent in enumerate(entities) for s, t in ent.anchors]
    anchor_vecs = torch.stack([hidden[s:t].mean(dim=0) for _, s, t in anchor_spans]) if anchor_spans else (
        hidden.new_zeros(0, d))
    anchor_entity = torch.tensor([e for e, _, _ in anchor_spans], dtype=torch.long, device=device)
    anchor_start = np.array([s for _, s, _ in anchor_spans], dtype=np.int64)

    qvec = torch.stack([hidden[q.tok_start:q.tok_end].mean(dim=0) for q in queries])  # (Q, d)
    cos = torch.nn.functional.normalize(qvec, dim=-1) @ torch.nn.functional.normalize(anchor_vecs, dim=-1).T  # (Q, A)

    mass = _attention_mass(attention, queries, entities, n, device)  # (Q, n_entities)

    half = window // 2
    evec = hidden.new_zeros(Q, E, d)
    feats = hidden.new_zeros(Q, E, len(FEATURES))
    mask = torch.zeros(Q, E, dtype=torch.bool, device=device)
    kind = hidden.new_zeros(Q, len(KINDS))
    numeric = np.zeros((Q, E, len(FEATURES)), dtype=np.float32)
    nearest_index = np.zeros((Q, E), dtype=np.int64)
    if initial is None:
        initial = np.zeros(n, dtype=bool)
    entity_np = anchor_entity.cpu().numpy()
    for qi, q in enumerate(queries):
        kind[qi, KINDS.index(q.kind if q.kind in KINDS else "nominal")] = 1.0
        here = int(passage_of[q.tok_start])
        previous_pos = {}
        counts_before = {}
        for e in q.entities:
            before = [s for s, _ in entities[e].anchors if s < q.tok_start]
            previous_pos[e] = max(before) if before else -1
            counts_before[e] = len(before)
        ranking = sorted(q.entities, key=lambda e: -previous_pos[e])
        named_before = [e for e in q.entities if counts_before[e] > 0]
        all_before = sum(counts_before.values())
        q_initial = float(initial[q.tok_start])
        for ei, e in enumerate(q.entities):
            ids = np.flatnonzero(entity_np == e)
            starts = anchor_start[ids]
            before, after = starts[starts < q.tok_start], starts[starts >= q.tok_end]
            dist = np.abs(starts - q.tok_start)
            nearest = ids[int(np.argmin(dist + (starts >= q.tok_start)))]  # ties go to the earlier
            nearest_index[qi, ei] = nearest
            row = numeric[qi, ei]
            row[Feature.HAS_PREVIOUS] = float(len(before) > 0)
            row[Feature.LOG_TOKENS_PREVIOUS] = log_token_distance(q.tok_start - before.max()) if len(before) else 0.0
            row[Feature.HAS_NEXT] = float(len(after) > 0)
            row[Feature.LOG_TOKENS_NEXT] = log_token_distance(after.min() - q.tok_start) if len(after) else 0.0
            if len(before):
                row[_passage_bucket(here - int(passage_of[before.max()]))] = 1.0
            row[Feature.IN_WINDOW] = float(dist.min() <= half)
            row[Feature.LOG_ANCHORS_BEFORE] = math.log1p(len(before))
            row[Feature.LOG_ANCHORS_TOTAL] = math.log1p(len(starts))
            row[Feature.SALIENCE_SHARE] = len(before) / all_before if all_before else 0.0
            row[Feature.ONLY_PREVIOUS] = float(named_before == [e])
            row[Feature.MOST_RECENT] = float(len(before) > 0 and ranking[0] == e)
            row[Feature.LOG_RECENCY_RANK] = math.log1p(ranking.index(e))
            row[Feature.LOG_CANDIDATES] = math.log1p(len(q.entities))
            a_initial = float(initial[before.max()]) if len(before) else 0.0
            row[Feature.ANCHOR_SENTENCE_INITIAL] = a_initial
            row[Feature.QUERY_SENTENCE_INITIAL] = q_initial
            row[Feature.PARALLEL] = a_initial * q_initial
            mask[qi, ei] = True
    numeric_t = torch.from_numpy(numeric).to(device=device, dtype=dtype)
    if anchor_spans:
        flat = torch.from_numpy(nearest_index).to(device)  # (Q, E)
        evec = anchor_vecs[flat] * mask[..., None]  # (Q, E, d)
        near_cos = torch.gather(cos, 1, flat)  # (Q, E)
        ent_index = torch.tensor(
            [[q.entities[i] if i < len(q.entities) else 0 for i in range(E)] for q in queries], device=device
        )  # (Q, E)
        same = anchor_entity[None, None, :] == ent_index[..., None]  # (Q, E, A)
        max_cos = cos[:, None, :].expand(-1, E, -1).masked_fill(~same, -1.0).amax(dim=-1)  # (Q, E)
        m = torch.gather(mass, 1, ent_index)  # (Q, E)
        # ATTENTION_MASS, LOG_ATTENTION_MASS, MAX_COSINE, NEAREST_COSINE: differentiable, in column order
        learned = torch.stack([m, torch.log(m + 1e-4), max_cos, near_cos], dim=-1)  # (Q, E, LEARNED)
        feats = torch.cat([learned, numeric_t[..., LEARNED:]], dim=-1) * mask[..., None]
    return qvec, evec, feats, mask, kind


def _passage_bucket(back: int) -> Feature:
    """The column of a passage distance: same passage, 1..FAR_PASSAGES back, or farther."""
    if back == 0:
        return Feature.PREVIOUS_SAME_PASSAGE
    return Feature.PREVIOUS_1_3_PASSAGES if back <= FAR_PASSAGES else Feature.PREVIOUS_FAR


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


def _attention_mass(
    attention: RowAttention, queries: Sequence[QuerySpec], entities: Sequence[EntitySpec], n: int,
    device: torch.device,
) -> Tensor:
    """(Q, n_entities): mean over m's rows and heads of the attention on e's anchor tokens."""
    n_ent = max(len(entities), 1)
    entity_of = torch.full((n + 1,), n_ent, dtype=torch.long, device=device)  # slot n_ent = no entity
    for e, ent in enumerate(entities):
        for s, t in ent.anchors:
            entity_of[s:t] = e
    keys = attention.keys.clamp(min=-1)  # (r, K); -1 -> index n (no entity)
    slot = entity_of[torch.where(keys < 0, torch.full_like(keys, n), keys)]  # (r, K)
    probs = attention.head_mean()  # (r, K)
    per_row = probs.new_zeros(len(attention.rows), n_ent + 1).scatter_add_(1, slot, probs)  # (r, E+1)
    row_of = {int(r): i for i, r in enumerate(attention.rows.tolist())}
    out = []
    for q in queries:
        idx = [row_of[p] for p in range(q.tok_start, q.tok_end) if p in row_of]
        out.append(per_row[idx, :n_ent].mean(dim=0) if idx else per_row.new_zeros(n_ent))
    return torch.stack(out)  # (Q, n_entities)


def save_head(head: LinkingHead, path: str | Path, meta: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in head.state_dict().items()}
    metadata = {"config": json.dumps(asdict(head.config)), "features": json.dumps(FEATURES), **(meta or {})}
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
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{path}: not a linking head: {error}") from None
    if features != FEATURES:
        raise ModelError(f"{path}: the head was trained with other features; retrain it")
    head = LinkingHead(config)
    load_weights(head, tensors, path)
    head.eval()
    return head
