"""The learned mention-ranking head: pair features -> a score per entity, plus a "no entity" score.

For one query mention m and each candidate entity e (a brand, or a named entity in training data):
    s(m, e) = MLP([v_m, f(m, e)])      s(m, none) = MLP_0([v_m, kind(m)]) + none_shift
and p = softmax over {none} + candidates. v_m is the mean final hidden state of m's word pieces; f
holds the attention, cosine, distance, salience and speaker features listed in FEATURES (built by
features.py, the same code in training and analysis). With `entity_vectors` the pair MLP also reads
v_e (e's nearest anchor) and v_m * v_e. A third module decides the sense of an ambiguous name.
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
from brandscan.engine.text.words import opens_sentence

FEATURES = (
    "attention_mass",  # head-mean attention from m's word pieces to e's anchor tokens (last layer)
    "log_attention_mass",
    "max_cosine",  # of v_m with any of e's ANCHOR_WINDOW anchors nearest to m
    "nearest_cosine",
    "profile_cosine",  # of v_m with e's profile vector ("name: category", profiles.py); 0 without a catalogue
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
    # the words around the name (text/words.py name_context): cues a common noun or a place carries
    "after_article",  # "an apple", "the summit" (but also "a Summit" bought)
    "after_preposition_the",  # "in the Amazon", "up the Summit": a place
    "possessive",  # "Summit's customer service"
    "before_capitalised",  # "Apple Music": part of a longer proper name
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
    # The sense module also reads the mean state of the name with this many tokens either side (its
    # context as the encoder saw it); 0: the name's own state only (heads trained before it).
    sense_context: int = 0
    # The "no brand" module also reads the mean state of the query with this many tokens either side
    # (features.chunk_features puts it in the kind rows); 0: the query's own state only (heads before it).
    none_context: int = 0
    # The sense module also reads the cosine of the name's context mean with its brand's profile vector ("Amazon:
    # retailer", profiles.py): whether the words around a name read like the brand's trade (sense.py).
    sense_profile: bool = False


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
            nn.Linear(d * (2 if config.none_context else 1) + len(KINDS) + 2, w // 2), nn.GELU(),
            nn.Dropout(config.dropout), nn.Linear(w // 2, 1)
        )
        self.sense = nn.Sequential(
            nn.Linear(d * (2 if config.sense_context else 1) + int(config.sense_profile) + config.sense_features,
                      w // 2), nn.GELU(),
            nn.Dropout(config.dropout), nn.Linear(w // 2, 1)
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
        "it" refers to any brand at all depends on them; with `none_context`, then the query's context
        mean (Q, K+2+d)."""
        Q, E, _ = evec.shape
        qe = qvec[:, None, :].expand(Q, E, -1)  # (Q, E, d)
        parts = [qe, evec, qe * evec, feats] if self.config.entity_vectors else [qe, feats]
        pair = self.pair(torch.cat(parts, dim=-1)).squeeze(-1)  # (Q, E)
        pair = pair.masked_fill(~mask, -1e4)
        none = self.none(torch.cat([qvec, kind], dim=-1)) + self.none_shift  # (Q, 1)
        return torch.cat([none, pair], dim=-1)  # (Q, 1+E); column 0 = no entity


class HeadEnsemble(nn.Module):
    """Several heads trained alike from different seeds, read as one: the mean of their log-probabilities
    over "no entity" and the entities (a normalised geometric mean), and the mean of their sense logits.
    Each member's own shifts are zero; the ensemble's are calibrated on held-out documents like a single
    head's. Why: seeds of the same head disagree on the queries near the "none" boundary, and their mean
    held out better than any one of them (docs/linking.md, "A seed ensemble of the head")."""

    def __init__(self, members: Sequence[LinkingHead]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one head")
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.register_buffer("none_shift", torch.zeros(()))
        self.register_buffer("sense_shift", torch.zeros(()))
        for member in self.members:
            member.none_shift.zero_()
            member.sense_shift.zero_()

    def sense_logits(self, vec: Tensor, feats: Tensor) -> Tensor:
        return torch.stack([m.sense_logits(vec, feats) for m in self.members]).mean(0) + self.sense_shift

    def forward(self, qvec: Tensor, evec: Tensor, feats: Tensor, mask: Tensor, kind: Tensor) -> Tensor:
        """As LinkingHead.forward: (Q, 1+E) logits, column 0 = no entity (here mean log-probabilities)."""
        logp = torch.stack([torch.log_softmax(m(qvec, evec, feats, mask, kind), dim=-1) for m in self.members])
        out = logp.mean(0)
        return torch.cat([out[:, :1] + self.none_shift, out[:, 1:]], dim=-1)


AnyHead = LinkingHead | HeadEnsemble


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


def save_head(head: AnyHead, path: str | Path, meta: dict[str, str] | None = None) -> None:
    """One safetensors file: a head's tensors, or an ensemble's (`members.i.` names, `members` in the
    metadata), in float16 with the config and feature names."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in head.state_dict().items()}
    metadata = {"config": json.dumps(asdict(head.config)), "features": json.dumps(FEATURES),
                "sense_features": json.dumps(SENSE_FEATURES), **(meta or {})}
    if isinstance(head, HeadEnsemble):
        metadata["members"] = str(len(head.members))
    save_file(tensors, str(path), metadata=metadata)


def load_head(path: str | Path) -> AnyHead:
    from brandscan.engine.model.loader import load_weights, read_safetensors

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no linking head here")
    tensors, metadata = read_safetensors(path)
    try:
        config = LinkingHeadConfig(**json.loads(metadata["config"]))
        features = tuple(json.loads(metadata.get("features", "[]")))
        sense_features = tuple(json.loads(metadata.get("sense_features", "[]")))
        members = int(metadata.get("members", "0"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{path}: not a linking head: {error}") from None
    if features != FEATURES or sense_features != SENSE_FEATURES:
        raise ModelError(f"{path}: the head was trained with other features; retrain it")
    head: AnyHead = HeadEnsemble([LinkingHead(config) for _ in range(members)]) if members > 0 else LinkingHead(config)
    load_weights(head, tensors, path)
    head.eval()
    return head
