"""Mention -> brand decisions for one document, with their evidence.

Third-person pronouns and nominals are ranked by the learned head (head.py) against every brand
present in the document (the nearest MAX_ENTITIES by anchor distance) and "no brand"; the form
narrows the brands first (a category nominal only fits brands of that category). The decisions made
by rule (an ambiguous alias's sense, first-person plural, and three logit adjustments) are named
functions beside their constants in rules.py.

    result = link(state, catalog, linker, LinkingOptions())
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.model.rows import RowAttention
from brandscan.engine.report import Alternative, Anchor, Attribution, Mention
from brandscan.engine.stable import WEIGHT_DECIMALS, ranked, rounded, single_thread
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.encode import DocState, EncodedStates
from brandscan.engine.stages.linking import rules
from brandscan.engine.stages.linking.attribution import rollout_rows
from brandscan.engine.stages.linking.evidence import evidence_spans, merge_rows, row_weight_arrays
from brandscan.engine.stages.linking.head import (
    EntitySpec,
    LinkingHead,
    QuerySpec,
    build_features,
    initial_positions,
    load_head,
    sentence_initial,
)
from brandscan.engine.stages.mentions import ExplicitMention
from brandscan.engine.text.passages import TokenizedDocument

MAX_ENTITIES = 16  # brands a query is ranked against: the nearest by anchor distance
HEAD_FILE = "head.safetensors"
ADAPTER_FILE = "adapter.safetensors"


@dataclass(frozen=True)
class LinkingOptions:
    attribution: str = "attention"  # "attention" (last layer) or "rollout" (last `rollout_layers`)
    evidence_spans: int = 5
    anchors: int = 3  # anchors listed per linked mention
    rollout_layers: int = 2


@dataclass(frozen=True, eq=False)
class Linker:
    head: LinkingHead
    directory: Path | None = None

    @classmethod
    def load(cls, heads_dir: str | Path) -> Linker:
        directory = Path(heads_dir) / "linking" if (Path(heads_dir) / "linking").is_dir() else Path(heads_dir)
        return cls(load_head(directory / HEAD_FILE), directory)

    @property
    def adapter_path(self) -> Path | None:
        path = self.directory / ADAPTER_FILE if self.directory is not None else None
        return path if path is not None and path.is_file() else None


@dataclass(frozen=True)
class LinkResult:
    mentions: tuple[Mention, ...]  # candidates (linked or not) and ambiguous explicit mentions
    rejected_explicit: tuple[tuple[int, int], ...] = ()  # ambiguous explicit spans judged non-brand


@dataclass(frozen=True, eq=False)
class Entities:
    """The brands present in a document (by first anchor), with their anchors as token spans."""

    brands: list[str]
    specs: list[EntitySpec]  # per brand, its anchors' token spans, sorted
    mentions: list[list[ExplicitMention]]  # per brand, its anchor mentions, sorted by start
    starts: list[np.ndarray]  # per brand, its anchors' first tokens (sorted): bisection lookups
    brand_of_token: np.ndarray  # (n,) entity index of each anchor token, -1 elsewhere
    anchor_of_token: np.ndarray  # (n,) anchor index within its entity

    @classmethod
    def of(cls, tokens: TokenizedDocument, anchors_by_brand: dict[str, list[ExplicitMention]]) -> Entities:
        brands = sorted(anchors_by_brand, key=lambda b: (anchors_by_brand[b][0].start, b))
        mentions = [sorted(anchors_by_brand[b], key=lambda m: m.start) for b in brands]
        specs = [EntitySpec(tuple(tokens.token_span(m.start, m.end) for m in ms)) for ms in mentions]
        starts = [np.fromiter((s for s, _ in e.anchors), dtype=np.int64, count=len(e.anchors)) for e in specs]
        # Every anchor token -> (brand, anchor): a candidate's attention finds its anchors in one
        # pass over the keys it attended rather than one pass per anchor.
        brand_of_token = np.full(tokens.n_tokens, -1, dtype=np.int64)
        anchor_of_token = np.zeros(tokens.n_tokens, dtype=np.int64)
        for i, e in enumerate(specs):
            for j, (s, t) in enumerate(e.anchors):
                brand_of_token[s:t], anchor_of_token[s:t] = i, j
        return cls(brands, specs, mentions, starts, brand_of_token, anchor_of_token)


def link(state: DocState, catalog: Catalog, linker: Linker, options: LinkingOptions = LinkingOptions()) -> LinkResult:
    """Decide every candidate of `state` (and every ambiguous explicit mention's sense)."""
    tokens = state.tokens
    sensed, anchors_by_brand, rejected = decide_senses(tokens, state.explicit, state.candidates, catalog,
                                                       state.encoded.global_positions)
    entities = Entities.of(tokens, anchors_by_brand)
    out = list(sensed)
    queries: list[QuerySpec] = []
    query_candidates: list[Candidate] = []
    for c in state.candidates:
        if c.kind == "alias":
            continue
        span = tokens.token_span(c.start, c.end)
        if c.person == 1:
            out.append(link_first_person(c, tokens, entities))
            continue
        query = rank_query(c, span, entities)
        if query is not None:
            queries.append(query)
            query_candidates.append(c)
    if queries and state.encoded.states is not None:
        out += link_by_head(tokens, queries, query_candidates, entities, state.encoded.states,
                            state.encoded.global_positions, catalog, linker, options)
    out.sort(key=lambda m: (m.start, m.end))
    return LinkResult(tuple(out), tuple(rejected))


def decide_senses(
    tokens: TokenizedDocument, explicit: Sequence[ExplicitMention], candidates: Sequence[Candidate], catalog: Catalog,
    global_positions: np.ndarray,
) -> tuple[list[Mention], dict[str, list[ExplicitMention]], list[tuple[int, int]]]:
    """Sense decisions for ambiguous aliases (rules.sense_probability); accepted ones become anchors
    like any unambiguous explicit mention. Returns (their mentions, anchors per brand, rejected spans)."""
    text = tokens.text
    passage_span = {p.index: (p.start, p.end) for p in tokens.passages}
    global_set = set(global_positions.tolist())
    anchors_by_brand: dict[str, list[ExplicitMention]] = {}
    for m in explicit:
        if not m.ambiguous:
            anchors_by_brand.setdefault(m.brand, []).append(m)
    out: list[Mention] = []
    rejected: list[tuple[int, int]] = []
    for c in candidates:
        if c.kind != "alias" or c.explicit is None:
            continue
        first = tokens.token_span(c.start, c.end)[0]
        passage = int(tokens.passage_of[first])
        p = rules.sense_probability(rules.sense_hits(text, passage_span[passage], c.explicit, catalog, explicit))
        brand = c.explicit.brand if p >= rules.SENSE_THRESHOLD else None
        if brand is not None:
            anchors_by_brand.setdefault(brand, []).append(c.explicit)
        else:
            rejected.append((c.start, c.end))
        other = Alternative(None if brand else c.explicit.brand, 1.0 - p if brand else p)
        evidence = rules.context_evidence(text, passage_span[passage], c.explicit, catalog)
        out.append(Mention(
            id="", brand=brand, kind=c.explicit.kind, start=c.start, end=c.end, text=c.text, passage=passage,
            probability=round(max(p, 1 - p), 4), is_global=first in global_set, alternative=other,
            attribution=Attribution("context", evidence=evidence),
        ))
    return out, anchors_by_brand, rejected


def link_first_person(c: Candidate, tokens: TokenizedDocument, entities: Entities) -> Mention:
    """First-person plural in a brand's turn or under --author (candidates.py gave it the brand):
    linked by rule, anchored at that brand's nearest preceding mention when it has one."""
    span = tokens.token_span(c.start, c.end)
    brand = c.brands[0]
    anchors: tuple[Anchor, ...] = ()
    if brand in entities.brands:
        i = entities.brands.index(brand)
        anchor = entities.mentions[i][_nearest_before(entities.starts[i], span[0])]
        anchors = (_anchor(anchor, tokens, 1.0),)
    return Mention(
        id="", brand=brand, kind="pronoun", start=c.start, end=c.end, text=c.text,
        passage=int(tokens.passage_of[span[0]]), probability=rules.FIRST_PERSON_PROBABILITY, is_global=False,
        alternative=Alternative(None, 1.0 - rules.FIRST_PERSON_PROBABILITY),
        attribution=Attribution("rule", anchors=anchors),
    )


def rank_query(c: Candidate, span: tuple[int, int], entities: Entities) -> QuerySpec | None:
    """The head's query for a third-person candidate: the brands its form allows, the nearest
    MAX_ENTITIES of them by anchor distance (in entity order); None when no brand fits."""
    allowed = [i for i, b in enumerate(entities.brands) if not c.brands or b in c.brands]
    if not allowed:
        return None
    allowed.sort(key=lambda i: (_token_distance(entities.starts[i], span[0]), i))
    kind = "pronoun" if c.kind == "pronoun" else "nominal"
    return QuerySpec(span[0], span[1], kind, tuple(sorted(allowed[:MAX_ENTITIES])))


def head_logits(
    tokens: TokenizedDocument, queries: Sequence[QuerySpec], entities: Entities, states: EncodedStates,
    attention: RowAttention, linker: Linker,
) -> torch.Tensor:
    """(Q, 1+E) the head's logits over "no brand" and each query's entities."""
    with torch.inference_mode():
        head_dtype = next(linker.head.parameters()).dtype
        initial = sentence_initial(tokens, initial_positions(queries, entities.specs))
        rows = RowAttention(attention.rows, attention.keys, attention.probs.to(head_dtype))
        with single_thread():  # the features and head are small; one thread keeps their sums fixed
            feats = build_features(states.last_hidden.to(head_dtype), rows, tokens.passage_of, queries,
                                   entities.specs, states.window, initial)
            return linker.head(*feats).float()  # (Q, 1+E)


def adjusted_probabilities(
    logits: torch.Tensor, queries: Sequence[QuerySpec], candidates: Sequence[Candidate], entities: Entities,
    catalog: Catalog,
) -> np.ndarray:
    """(Q, 1+E) probabilities as reported, after the rules' logit adjustments, applied in order."""
    logits = logits.clone()  # a normal tensor: the adjustments write into it
    for qi, (q, c) in enumerate(zip(queries, candidates)):
        numbers = [catalog.brand(entities.brands[e]).number for e in q.entities]
        named_before = [entities.specs[e].anchors[0][0] < q.tok_start for e in q.entities]
        for change in (rules.number_penalty(c, numbers), rules.form_bonus(c, len(q.entities)),
                       rules.salience_bonus(named_before)):
            logits[qi, 1:1 + len(q.entities)] += torch.from_numpy(change)
    return rounded(torch.softmax(logits, dim=-1).cpu().numpy())


def link_by_head(
    tokens: TokenizedDocument, queries: Sequence[QuerySpec], candidates: Sequence[Candidate], entities: Entities,
    states: EncodedStates, global_positions: np.ndarray, catalog: Catalog, linker: Linker, options: LinkingOptions,
) -> list[Mention]:
    """The head over features of the recomputed last-layer attention rows, then anchors and evidence."""
    device = states.last_hidden.device
    rows = torch.tensor(sorted({p for q in queries for p in range(q.tok_start, q.tok_end)}), dtype=torch.long,
                        device=device)
    globals_t = torch.as_tensor(global_positions, dtype=torch.long, device=device)
    with torch.inference_mode():
        top = states.layers[-1].row_attention(states.layer_inputs[-1], rows, globals_t, states.window)
    probs = adjusted_probabilities(head_logits(tokens, queries, entities, states, top, linker), queries,
                                   candidates, entities, catalog)
    if options.attribution == "rollout":
        layers = [layer.attention_of(x) for layer, x in zip(states.layers, states.layer_inputs)]
        with torch.inference_mode():
            weights = rollout_rows(layers[-options.rollout_layers:], rows, globals_t, states.window, top=top)
    else:
        weights = row_weight_arrays(top)
    out = []
    for qi, (q, c) in enumerate(zip(queries, candidates)):
        p = probs[qi, : 1 + len(q.entities)]
        order = ranked(p)  # ties to "no brand", then to the nearer-listed brand
        choice, runner_up = int(order[0]), int(order[1]) if len(order) > 1 else 0
        brand = entities.brands[q.entities[choice - 1]] if choice > 0 else None
        alt = Alternative(entities.brands[q.entities[runner_up - 1]] if runner_up > 0 else None, float(p[runner_up]))
        merged = merge_rows(weights, range(q.tok_start, q.tok_end))
        shown = brand if brand is not None else alt.brand
        anchors: tuple[Anchor, ...] = ()
        if shown is not None:
            i = entities.brands.index(shown)
            hit = entities.brand_of_token[merged[0]] == i
            scored = np.bincount(entities.anchor_of_token[merged[0][hit]], weights=merged[1][hit],
                                 minlength=len(entities.mentions[i]))  # (mentions,) attention to each anchor
            anchors = _anchors(entities.mentions[i], entities.starts[i], scored, tokens, q.tok_start, options.anchors)
        evidence = evidence_spans(tokens, merged, (c.start, c.end), options.evidence_spans)
        kind = "pronoun" if c.kind == "pronoun" else "nominal" if c.kind == "nominal" else "product"
        out.append(Mention(
            id="", brand=brand, kind=kind, start=c.start, end=c.end, text=c.text,
            passage=int(tokens.passage_of[q.tok_start]), probability=float(p[choice]), is_global=False,
            alternative=alt, attribution=Attribution(options.attribution, anchors, evidence),
        ))
    return out


def _nearest_before(starts: np.ndarray, position: int) -> int:
    """Index of the last anchor starting before token `position` (the first anchor when none does)."""
    return max(int(np.searchsorted(starts, position)) - 1, 0)


def _token_distance(starts: np.ndarray, position: int) -> int:
    """Token distance from `position` to the nearest anchor start (`starts` sorted, non-empty)."""
    i = int(np.searchsorted(starts, position))
    return min(abs(int(starts[j]) - position) for j in (i - 1, i) if 0 <= j < len(starts))


def _anchor(m: ExplicitMention, tokens: TokenizedDocument, weight: float) -> Anchor:
    first = tokens.token_span(m.start, m.end)[0]
    return Anchor("", m.start, m.end, m.text, int(tokens.passage_of[first]), weight)


def _anchors(mentions: Sequence[ExplicitMention], starts: np.ndarray, scored: np.ndarray, tokens: TokenizedDocument,
             position: int, top: int) -> tuple[Anchor, ...]:
    """The brand's anchor mentions by the attention the candidate gave them (`scored`), normalized."""
    total = float(scored.sum())
    if total <= 0:  # nothing reached: name the nearest preceding mention, with no weight
        return (_anchor(mentions[_nearest_before(starts, position)], tokens, 0.0),)
    share = rounded(scored / total, WEIGHT_DECIMALS)
    best = ranked(share, WEIGHT_DECIMALS)[:top]  # heaviest first, ties to the earlier mention
    return tuple(_anchor(mentions[j], tokens, float(share[j])) for j in sorted(best.tolist()) if share[j] > 0)
