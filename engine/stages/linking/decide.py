"""Mention -> brand decisions for one document, with their evidence. Every decision is learned.

1. Sense: each ambiguous name ("Apple", "Amazon") is the brand or not, by the head's sense module over
   the name's contextual vector (head.SENSE_FEATURES) plus a learned prior from the words around it
   (sense.py, sense_context.py); names kept as the brand become anchors.
2. Ranking: every other candidate (pronoun, first person, noun phrase) is ranked by the head against
   the brands present (the nearest MAX_ENTITIES by anchor distance) and "no brand".
3. Attribution: each decision's anchors and evidence words come from the candidate's attention row.

    result = link(state, catalog, linker, LinkingOptions())
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.heap import release_free_memory, releasing
from brandscan.engine.model.rows import LocalKeys, RowAttention, attention_chunks, row_attention
from brandscan.engine.report import Alternative, Anchor, Attribution, Mention
from brandscan.engine.stable import WEIGHT_DECIMALS, ranked, rounded, single_thread
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.encode import DocState, EncodedStates
from brandscan.engine.stages.linking.attribution import RowWeights, rollout_rows
from brandscan.engine.stages.linking.evidence import (
    EvidenceWords,
    evidence_spans,
    mass_rows,
    mean_rows,
    merge_rows,
    span_positions,
)
from brandscan.engine.stages.linking.features import (
    RowMass,
    chunk_features,
    entity_slots,
    feature_context,
)
from brandscan.engine.stages.linking.head import (
    NO_SPEAKER,
    OTHER_SPEAKER,
    AnyHead,
    EntitySpec,
    QuerySpec,
    initial_positions,
    load_head,
    sentence_initial,
)
from brandscan.engine.stages.linking.profiles import BrandProfiles
from brandscan.engine.stages.linking.sense import sense_logits
from brandscan.engine.stages.linking.sense_context import SENSE_CONTEXT_FILE, SenseContext, load_sense_context
from brandscan.engine.stages.mentions import ExplicitMention
from brandscan.engine.text.passages import TokenizedDocument

MAX_ENTITIES = 16  # brands a query is ranked against: the nearest by anchor distance
QUERY_CHUNK = 256  # queries whose pair inputs (QUERY_CHUNK, E, 3d) are built at once
# An unlinked noun phrase is reported (for review, with its runner-up) only when a brand got at least
# this probability: every "the weather" of a long document would otherwise bury the list. Unlinked
# pronouns are always reported.
REVIEW_PROBABILITY = 0.2
# Attention chunks between two returns of freed heap memory (engine/heap.py): each chunk's temporaries
# are tens of MB; a return costs milliseconds.
TRIM_CHUNKS = 16
SENSE_THRESHOLD = 0.5  # an ambiguous name is the brand when the sense module's probability reaches this
HEAD_FILE = "head.safetensors"
ADAPTER_FILE = "adapter.safetensors"


@dataclass(frozen=True)
class LinkingOptions:
    attribution: str = "attention"  # "attention" (last layer) or "rollout" (last `rollout_layers`)
    evidence_spans: int = 5
    anchors: int = 3  # anchors listed per linked mention
    rollout_layers: int = 2
    link_bias: float = 0.0  # AnalyzerConfig.link_bias: added to each brand's logit against "no brand"


@dataclass(frozen=True, eq=False)
class Linker:
    head: AnyHead
    directory: Path | None = None
    sense_context: SenseContext | None = None  # the words around an ambiguous name (sense_context.py)
    profiles: BrandProfiles | None = None  # what each brand is, through the linking encoder (profiles.py)

    @classmethod
    def load(cls, heads_dir: str | Path) -> Linker:
        directory = Path(heads_dir) / "linking" if (Path(heads_dir) / "linking").is_dir() else Path(heads_dir)
        return cls(load_head(directory / HEAD_FILE), directory, load_sense_context(directory / SENSE_CONTEXT_FILE))

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
    states = state.encoded.states
    if states is None:  # an empty document: nothing to decide
        return LinkResult(())
    tokens = state.tokens
    head_dtype = next(linker.head.parameters()).dtype
    aliases, spans, logits = sense_logits(state, linker, catalog)
    p_brand = rounded(torch.sigmoid(logits).numpy())
    keep = [bool(p >= SENSE_THRESHOLD) for p in p_brand]
    entities = Entities.of(tokens, anchors_by_brand(state.explicit, aliases, keep))
    queries, query_candidates = link_queries(tokens, state.candidates, entities, catalog)
    device = states.last_hidden.device
    globals_t = torch.as_tensor(state.encoded.global_positions, dtype=torch.long, device=device)
    last = states.attention(-1)
    weights: RowWeights | None = None
    with torch.inference_mode():
        attention: RowAttention | RowMass
        if options.attribution == "rollout":
            rows = span_positions([(q.tok_start, q.tok_end) for q in queries] + spans, device)
            attention = row_attention(last, rows, globals_t, states.window)
            layers = [states.attention(i) for i in range(len(states.layers))]
            weights = rollout_rows(layers[-options.rollout_layers:], rows, globals_t, states.window, top=attention)
        else:
            # The head reads only each query row's mass per brand: reduced chunk by chunk, nothing kept.
            # Not the ambiguous names' rows (global: a pass over every key each), no query's: evidence only.
            query_rows = span_positions([(q.tok_start, q.tok_end) for q in queries], device)
            attention = mass_rows(releasing(attention_chunks(last, query_rows, globals_t, states.window), TRIM_CHUNKS),
                                  entity_slots(tokens.n_tokens, entities.specs, device), head_dtype)
    probs = head_probabilities(tokens, queries, entities, states, attention, linker, options.link_bias,
                               brand_profiles(linker.profiles, catalog, entities)) if queries else np.zeros((0, 1))
    release_free_memory()  # the head's pair inputs
    choices = [query_choice(q, probs[qi], entities) for qi, q in enumerate(queries)]
    shown = [qi for qi, c in enumerate(query_candidates) if is_reported(c, choices[qi])]
    if weights is None:
        # Evidence rows only for what the report shows: a long document's unreported noun phrases
        # are most of its candidates, and their rows (w + 1 + g keys each) would dominate its memory.
        shown_rows = span_positions([(queries[qi].tok_start, queries[qi].tok_end) for qi in shown] + spans, device)
        with torch.inference_mode():
            weights = mean_rows(releasing(attention_chunks(last, shown_rows, globals_t, states.window), TRIM_CHUNKS),
                                len(shown_rows),
                                LocalKeys.of(tokens.n_tokens, states.window, state.encoded.global_positions))
    global_set = set(state.encoded.global_positions.tolist())
    words_of = EvidenceWords.of(tokens)
    out = [sense_mention(c, span, float(p), keep_it, tokens, weights, global_set, options, words_of)
           for c, span, p, keep_it in zip(aliases, spans, p_brand, keep)]
    out += [ranked_mention(tokens, queries[qi], query_candidates[qi], entities, choices[qi], weights, options,
                           words_of) for qi in shown]
    out.sort(key=lambda m: (m.start, m.end))
    rejected = tuple((c.start, c.end) for c, keep_it in zip(aliases, keep) if not keep_it)
    return LinkResult(tuple(out), rejected)


def anchors_by_brand(explicit: Sequence[ExplicitMention], aliases: Sequence[Candidate],
                     keep: Sequence[bool]) -> dict[str, list[ExplicitMention]]:
    """Each brand's anchors: its unambiguous explicit mentions and the ambiguous ones kept as the brand."""
    out: dict[str, list[ExplicitMention]] = {}
    for m in explicit:
        if not m.ambiguous:
            out.setdefault(m.brand, []).append(m)
    for c, keep_it in zip(aliases, keep):
        if keep_it and c.explicit is not None:
            out.setdefault(c.explicit.brand, []).append(c.explicit)
    return out


def sense_mention(c: Candidate, span: tuple[int, int], p: float, keep: bool, tokens: TokenizedDocument,
                  weights: RowWeights, global_set: set[int], options: LinkingOptions,
                  words_of: EvidenceWords) -> Mention:
    """An ambiguous name as reported: its brand when kept, else none; evidence from its attention row."""
    assert c.explicit is not None
    brand = c.explicit.brand if keep else None
    other = Alternative(None if keep else c.explicit.brand, round(1.0 - p if keep else p, 4))
    evidence = evidence_spans(tokens, merge_rows(weights, range(*span)), (c.start, c.end), options.evidence_spans,
                              words_of)
    return Mention(
        id="", brand=brand, kind=c.explicit.kind, start=c.start, end=c.end, text=c.text,
        passage=int(tokens.passage_of[span[0]]), probability=round(max(p, 1 - p), 4),
        is_global=span[0] in global_set, alternative=other, attribution=Attribution(options.attribution, (), evidence),
    )


def link_queries(tokens: TokenizedDocument, candidates: Sequence[Candidate], entities: Entities,
                 catalog: Catalog) -> tuple[list[QuerySpec], list[Candidate]]:
    """The head's queries: every candidate but the ambiguous names, when a brand is present."""
    queries, chosen = [], []
    words = {b: catalogue_nouns(catalog, b) for b in entities.brands}
    ranked_candidates = [c for c in candidates if c.kind != "alias"]
    spans = [tokens.token_span(c.start, c.end) for c in ranked_candidates]
    distances = anchor_distances(entities, np.array([s for s, _ in spans], dtype=np.int64))
    for c, span, row in zip(ranked_candidates, spans, distances):
        query = rank_query(c, span, entities, words, row)
        if query is not None:
            queries.append(query)
            chosen.append(c)
    return queries, chosen


def catalogue_nouns(catalog: Catalog, brand_id: str) -> frozenset[str]:
    """Lower-cased words of a brand's `nouns`, category and product nouns: hints for noun_fits."""
    brand = catalog.brand(brand_id)
    phrases = [*brand.nouns, brand.category or "", *(p.noun or "" for p in brand.products)]
    return frozenset(w for phrase in phrases for w in re.findall(r"[a-z]+", phrase.lower()))


def anchor_distances(entities: Entities, positions: np.ndarray) -> np.ndarray:
    """(len(positions), brands) token distance from each position to each brand's nearest anchor start,
    one vectorised lookup per brand (a Python call per candidate and brand was most of ranking's setup)."""
    out = np.zeros((len(positions), len(entities.brands)), dtype=np.int64)
    for i, starts in enumerate(entities.starts):
        after = np.searchsorted(starts, positions)  # first anchor starting at or after the position
        before = np.abs(starts[np.maximum(after - 1, 0)] - positions)
        at_or_after = np.abs(starts[np.minimum(after, len(starts) - 1)] - positions)
        # Clamped at either end, both indices name the same anchor there, so the minimum is right everywhere.
        out[:, i] = np.minimum(before, at_or_after)
    return out


def rank_query(c: Candidate, span: tuple[int, int], entities: Entities, words: dict[str, frozenset[str]],
               distances: np.ndarray) -> QuerySpec | None:
    """The head's query for a candidate: the brands its form allows, the nearest MAX_ENTITIES of
    them by anchor distance (in entity order); None when no brand fits. `distances` is the candidate's
    row of anchor_distances."""
    allowed = np.array([i for i, b in enumerate(entities.brands)
                        if (not c.brands or b in c.brands) and b not in c.not_brands], dtype=np.int64)
    if not len(allowed):
        return None
    nearest = allowed[np.lexsort((allowed, distances[allowed]))[:MAX_ENTITIES]]  # ties to the earlier brand
    chosen = tuple(sorted(nearest.tolist()))
    kind = "first_person" if c.person == 1 else "pronoun" if c.kind == "pronoun" else "nominal"
    speaker = NO_SPEAKER
    if c.speaker is not None:
        index = entities.brands.index(c.speaker) if c.speaker in entities.brands else -1
        speaker = index if index in chosen else OTHER_SPEAKER
    noun = c.noun or ""
    fits = tuple(e for e in chosen if words and noun and (noun in words[entities.brands[e]]
                                                          or noun.removesuffix("s") in words[entities.brands[e]]))
    return QuerySpec(span[0], span[1], kind, chosen, c.in_turn, speaker, fits)


def brand_profiles(profiles: BrandProfiles | None, catalog: Catalog, entities: Entities) -> torch.Tensor | None:
    """(len(entities.brands), d) the profile vector of each brand present, in entity order; None
    without `profiles` (the head then sees profile_cosine 0)."""
    return None if profiles is None else profiles.vectors([catalog.brand(b) for b in entities.brands])


def head_logits(
    tokens: TokenizedDocument, queries: Sequence[QuerySpec], entities: Entities, states: EncodedStates,
    attention: RowAttention | RowMass, linker: Linker, profiles: torch.Tensor | None = None,
) -> torch.Tensor:
    """(Q, 1+E) the head's logits over "no brand" and each query's entities, QUERY_CHUNK queries at a
    time: a document with 20,000 candidates never holds (Q, E, d) pair inputs at once."""
    width = 1 + max(len(q.entities) for q in queries)
    with torch.inference_mode():
        head_dtype = next(linker.head.parameters()).dtype
        initial = sentence_initial(tokens, initial_positions(queries, entities.specs))
        if isinstance(attention, RowAttention):
            attention = RowAttention(attention.rows, attention.keys, attention.probs.to(head_dtype))
        with single_thread():  # the features and head are small; one thread keeps their sums fixed
            context = feature_context(states.last_hidden, attention, tokens.passage_of, entities.specs,
                                      states.window, initial, head_dtype, profiles, linker.head.config.none_context)
            out = torch.full((len(queries), width), -1e4)
            for at in range(0, len(queries), QUERY_CHUNK):
                logits = linker.head(*chunk_features(context, queries[at:at + QUERY_CHUNK])).float()
                out[at:at + logits.shape[0], :logits.shape[1]] = logits
            return out


def head_probabilities(tokens: TokenizedDocument, queries: Sequence[QuerySpec], entities: Entities,
                       states: EncodedStates, attention: RowAttention | RowMass, linker: Linker,
                       link_bias: float = 0.0, profiles: torch.Tensor | None = None) -> np.ndarray:
    """(Q, 1+E) probabilities over "no brand" and each query's entities, as reported; `link_bias`
    moves every brand against "no brand" (the user's precision/recall trade-off)."""
    logits = head_logits(tokens, queries, entities, states, attention, linker, profiles)
    if link_bias:
        logits = torch.cat([logits[:, :1] - link_bias, logits[:, 1:]], dim=1)  # (Q, 1+E)
    return rounded(torch.softmax(logits, dim=-1).cpu().numpy())


@dataclass(frozen=True)
class Choice:
    """A query's decision: its brand (None: no brand) with its probability, and the runner-up."""

    brand: str | None
    probability: float
    alternative: Alternative


def query_choice(q: QuerySpec, p: np.ndarray, entities: Entities) -> Choice:
    """The decision in a query's row of head_probabilities."""
    p = p[: 1 + len(q.entities)]
    order = ranked(p)  # ties to "no brand", then to the nearer-listed brand
    choice, runner_up = int(order[0]), int(order[1]) if len(order) > 1 else 0
    brand = entities.brands[q.entities[choice - 1]] if choice > 0 else None
    alternative = Alternative(entities.brands[q.entities[runner_up - 1]] if runner_up > 0 else None,
                              float(p[runner_up]))
    return Choice(brand, float(p[choice]), alternative)


def is_reported(c: Candidate, choice: Choice) -> bool:
    """Linked candidates, every pronoun, and unlinked noun phrases whose runner-up brand reached
    REVIEW_PROBABILITY are reported."""
    return choice.brand is not None or c.kind == "pronoun" or choice.alternative.probability >= REVIEW_PROBABILITY


def ranked_mention(
    tokens: TokenizedDocument, q: QuerySpec, c: Candidate, entities: Entities, choice: Choice,
    weights: RowWeights, options: LinkingOptions, words_of: EvidenceWords,
) -> Mention:
    """A query's decision as reported (query_choice), with the anchors and evidence words its
    attention row gave."""
    brand, alt = choice.brand, choice.alternative
    merged = merge_rows(weights, range(q.tok_start, q.tok_end))
    shown = brand if brand is not None else alt.brand
    anchors: tuple[Anchor, ...] = ()
    if shown is not None:
        i = entities.brands.index(shown)
        hit = entities.brand_of_token[merged[0]] == i
        scored = np.bincount(entities.anchor_of_token[merged[0][hit]], weights=merged[1][hit],
                             minlength=len(entities.mentions[i]))  # (mentions,) attention to each anchor
        anchors = _anchors(entities.mentions[i], entities.starts[i], scored, tokens, q.tok_start, options.anchors)
    evidence = evidence_spans(tokens, merged, (c.start, c.end), options.evidence_spans, words_of)
    kind = "pronoun" if c.kind == "pronoun" else "nominal" if c.kind == "nominal" else "product"
    return Mention(
        id="", brand=brand, kind=kind, start=c.start, end=c.end, text=c.text,
        passage=int(tokens.passage_of[q.tok_start]), probability=choice.probability, is_global=False,
        alternative=alt, attribution=Attribution(options.attribution, anchors, evidence),
    )


def _nearest_before(starts: np.ndarray, position: int) -> int:
    """Index of the last anchor starting before token `position` (the first anchor when none does)."""
    return max(int(np.searchsorted(starts, position)) - 1, 0)


def _anchor(m: ExplicitMention, first: int, tokens: TokenizedDocument, weight: float) -> Anchor:
    """An anchor mention as reported; `first` is its first token (Entities.starts)."""
    return Anchor("", m.start, m.end, m.text, int(tokens.passage_of[first]), weight)


def _anchors(mentions: Sequence[ExplicitMention], starts: np.ndarray, scored: np.ndarray, tokens: TokenizedDocument,
             position: int, top: int) -> tuple[Anchor, ...]:
    """The brand's anchor mentions by the attention the candidate gave them (`scored`), normalized."""
    total = float(scored.sum())
    if total <= 0:  # nothing reached: name the nearest preceding mention, with no weight
        j = _nearest_before(starts, position)
        return (_anchor(mentions[j], int(starts[j]), tokens, 0.0),)
    share = rounded(scored / total, WEIGHT_DECIMALS)
    best = ranked(share, WEIGHT_DECIMALS)[:top]  # heaviest first, ties to the earlier mention
    return tuple(_anchor(mentions[j], int(starts[j]), tokens, float(share[j])) for j in sorted(best.tolist())
                 if share[j] > 0)
