"""Mention -> brand decisions for one document, with their evidence.

Third-person pronouns and nominals are ranked by the learned head (linking_head.py) against every
brand present in the document (the nearest MAX_ENTITIES by anchor distance) and "no brand"; the
form narrows the brands first (a category nominal only fits brands of that category). Two decisions
are rules, not learned, because no openly licensed training data covers them:
- first-person plural inside a brand's speaker turn or under `--author` links to that brand
  (probability 1.0: the turn label or the author option is the evidence);
- an ambiguous alias keeps its brand sense when the brand's context words, category nouns or its
  unambiguous names/products appear in the same passage; its probability is hits / (hits + 1).
A pronoun whose number disagrees with the brand's catalogue number loses NUMBER_PENALTY logits; a
category/product nominal gains FORM_BONUS logits for the brands its noun belongs to, and the only
brand named before a candidate gains SALIENCE_BONUS logits (constants beside their definitions).
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import report as rp
from .attribution import (
    LayerAttention,
    evidence_spans,
    merge_rows,
    rollout_rows,
    row_attention,
    row_weight_arrays,
)
from .candidates import Candidate
from .catalog import Catalog
from .linking_head import (
    EntitySpec,
    LinkingHead,
    QuerySpec,
    build_features,
    initial_positions,
    load_head,
    sentence_initial,
)
from .mentions import ExplicitMention
from .passages import TokenizedDocument
from .stable import WEIGHT_DECIMALS, ranked, rounded, single_thread

MAX_ENTITIES = 16
NUMBER_PENALTY = 1.0
# A category or product nominal ("the carrier", "the jacket") whose noun the catalogue gives to a
# brand gains FORM_BONUS logits for that brand: the catalogue says the noun names it, which none of
# the open coreference sets can teach (their "the company" is rarely a named organisation's).
FORM_BONUS = 1.0
# A pronoun or nominal gains SALIENCE_BONUS logits for a brand that is the only one of its candidates
# named before it. The head learned its "no entity" prior on coreference corpora, where "it"/"they"
# mostly point at unnamed things and two or more named people compete; in a brand document the lone
# brand named so far is the usual referent, however far back. The value was set on the annotated
# brand documents (tests/fixtures/brands_eval), which are therefore development, not test, figures.
SALIENCE_BONUS = 1.5
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


@dataclass(frozen=True, eq=False)
class EncodedStates:
    """What linking needs from the encoder pass (no attention maps)."""

    last_hidden: Tensor  # (n, d) final hidden states
    layer_inputs: tuple[Tensor, ...]  # inputs of the last R layers, lowest first, each (n, d)
    layers: tuple[torch.nn.Module, ...]  # those R encoder layers (their query/key projections)
    window: int


@dataclass(frozen=True)
class LinkResult:
    mentions: tuple[rp.Mention, ...]  # candidates (linked or not) and ambiguous explicit mentions
    rejected_explicit: tuple[tuple[int, int], ...] = ()  # ambiguous explicit spans judged non-brand


@contextlib.contextmanager
def capture_layer_inputs(encoder: torch.nn.Module, last: int) -> Iterator[list[Tensor]]:
    """Keep the input hidden states of the encoder's last `last` layers during one forward pass.

    The encoder calls its layers' forward_dense / forward_sparse directly (no nn.Module hooks fire),
    so the two methods are wrapped on those layer instances for the duration and restored after.
    """
    captured: list[Tensor] = []
    layers = list(encoder.layers)[-last:]
    saved = []
    for layer in layers:
        for name in ("forward_dense", "forward_sparse"):
            original = getattr(layer, name)

            def wrapper(x, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
                captured.append(x[0])  # (n, d) of batch row 0
                return _original(x, *args, **kwargs)

            saved.append((layer, name))
            setattr(layer, name, wrapper)
    try:
        yield captured
    finally:
        for layer, name in saved:
            delattr(layer, name)  # the instance attribute hid the class method; removing it restores


def layer_attention(layer: torch.nn.Module, inputs: Tensor) -> LayerAttention:
    att = layer.attention
    return LayerAttention(inputs, att.query, att.key, att.heads)


def _brand_words(catalog: Catalog, brand_id: str) -> set[str]:
    brand = catalog.brand(brand_id)
    words = {w.lower() for w in brand.context} | {n.lower() for n in brand.nouns}
    if brand.category:
        words.add(brand.category.lower())
    for product in brand.products:
        words.add(product.name.lower())
    return words


def sense_hits(text: str, passage: tuple[int, int], mention: ExplicitMention, catalog: Catalog,
               explicit: Sequence[ExplicitMention]) -> int:
    """Evidence for the brand sense of an ambiguous alias: context words and unambiguous mentions."""
    words = _brand_words(catalog, mention.brand)
    chunk = text[passage[0]:passage[1]].lower()
    hits = sum(1 for w in words if re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", chunk))
    hits += sum(1 for m in explicit if m.brand == mention.brand and not m.ambiguous
                and passage[0] <= m.start < passage[1])
    return hits


def link_document(
    tokens: TokenizedDocument,
    explicit: Sequence[ExplicitMention],
    candidates: Sequence[Candidate],
    encoded: EncodedStates,
    global_positions: np.ndarray,
    catalog: Catalog,
    linker: Linker,
    options: LinkingOptions = LinkingOptions(),
) -> LinkResult:
    text = tokens.text
    out: list[rp.Mention] = []
    rejected: list[tuple[int, int]] = []
    passage_span = {p.index: (p.start, p.end) for p in tokens.passages}
    global_set = set(global_positions.tolist())

    # 1. Sense decisions for ambiguous aliases; accepted ones become anchors like any explicit.
    anchors_by_brand: dict[str, list[ExplicitMention]] = {}
    for m in explicit:
        if not m.ambiguous:
            anchors_by_brand.setdefault(m.brand, []).append(m)
    for c in candidates:
        if c.kind != "alias" or c.explicit is None:
            continue
        first = tokens.token_span(c.start, c.end)[0]
        passage = int(tokens.passage_of[first])
        hits = sense_hits(text, passage_span[passage], c.explicit, catalog, explicit)
        p = hits / (hits + 1)
        brand = c.explicit.brand if p >= 0.5 else None
        if brand is not None:
            anchors_by_brand.setdefault(brand, []).append(c.explicit)
        else:
            rejected.append((c.start, c.end))
        other = rp.Alternative(None if brand else c.explicit.brand, 1.0 - p if brand else p)
        out.append(rp.Mention("", brand, c.explicit.kind, c.start, c.end, c.text, passage, round(max(p, 1 - p), 4),
                              first in global_set, other,
                              rp.Attribution("context", evidence=_context_evidence(text, passage_span[passage],
                                                                                      c.explicit, catalog))))
    brands = sorted(anchors_by_brand, key=lambda b: (anchors_by_brand[b][0].start, b))
    entities = [
        EntitySpec(tuple(tokens.token_span(m.start, m.end) for m in sorted(anchors_by_brand[b], key=lambda m: m.start)))
        for b in brands
    ]
    anchor_mentions = [sorted(anchors_by_brand[b], key=lambda m: m.start) for b in brands]
    # Per brand, its anchors' first tokens (sorted, as the mentions are): nearest-anchor lookups by
    # bisection, and every anchor token -> (brand, anchor), so a candidate's attention finds its
    # anchors in one pass over the keys it attended rather than one pass per anchor.
    anchor_starts = [np.fromiter((s for s, _ in e.anchors), dtype=np.int64, count=len(e.anchors)) for e in entities]
    brand_of_token = np.full(tokens.n_tokens, -1, dtype=np.int64)
    anchor_of_token = np.zeros(tokens.n_tokens, dtype=np.int64)
    for i, e in enumerate(entities):
        for j, (s, t) in enumerate(e.anchors):
            brand_of_token[s:t], anchor_of_token[s:t] = i, j

    # 2. Rule links: first person in a brand's turn or under --author.
    queries: list[QuerySpec] = []
    query_candidates: list[Candidate] = []
    for c in candidates:
        if c.kind == "alias":
            continue
        span = tokens.token_span(c.start, c.end)
        passage = int(tokens.passage_of[span[0]])
        if c.person == 1:
            brand = c.brands[0]
            if brand in brands:
                i = brands.index(brand)
                anchor = anchor_mentions[i][_nearest_before(anchor_starts[i], span[0])]
                anchors = (_anchor(anchor, tokens, 1.0),)
            else:
                anchors = ()
            out.append(rp.Mention("", brand, "pronoun", c.start, c.end, c.text, passage, 1.0, False,
                                  rp.Alternative(None, 0.0), rp.Attribution("rule", anchors=anchors)))
            continue
        allowed = [i for i, b in enumerate(brands) if not c.brands or b in c.brands]
        if not allowed:
            continue
        allowed.sort(key=lambda i: (_token_distance(anchor_starts[i], span[0]), i))
        allowed = sorted(allowed[:MAX_ENTITIES])
        queries.append(QuerySpec(span[0], span[1], "pronoun" if c.kind == "pronoun" else "nominal", tuple(allowed)))
        query_candidates.append(c)
    if not queries:
        return LinkResult(tuple(out), tuple(rejected))

    # 3. The head over features of the recomputed last-layer attention rows.
    device = encoded.last_hidden.device
    rows = torch.tensor(sorted({p for q in queries for p in range(q.tok_start, q.tok_end)}), dtype=torch.long,
                        device=device)
    globals_t = torch.as_tensor(global_positions, dtype=torch.long, device=device)
    top_layer = layer_attention(encoded.layers[-1], encoded.layer_inputs[-1])
    with torch.inference_mode():
        att = row_attention(top_layer, rows, globals_t, encoded.window)
        head_dtype = next(linker.head.parameters()).dtype
        initial = sentence_initial(tokens, initial_positions(queries, entities))
        with single_thread():  # the features and head are small; one thread keeps their sums fixed
            feats = build_features(encoded.last_hidden.to(head_dtype), _cast(att, head_dtype), tokens.passage_of,
                                   queries, entities, encoded.window, initial)
            logits = linker.head(*feats).float()  # (Q, 1+E)
    logits = logits.clone()  # a normal tensor: the rule adjustments below write into it
    for qi, (q, c) in enumerate(zip(queries, query_candidates)):
        if c.kind == "pronoun":
            for ei, e in enumerate(q.entities):
                number = catalog.brand(brands[e]).number
                if number != c.number:
                    logits[qi, 1 + ei] -= NUMBER_PENALTY
        elif c.brands:
            logits[qi, 1:1 + len(q.entities)] += FORM_BONUS
        named_before = [ei for ei, e in enumerate(q.entities) if entities[e].anchors[0][0] < q.tok_start]
        if len(named_before) == 1:
            logits[qi, 1 + named_before[0]] += SALIENCE_BONUS
    probs = rounded(torch.softmax(logits, dim=-1).cpu().numpy())  # (Q, 1+E) as reported

    if options.attribution == "rollout":
        layers = [layer_attention(layer, x) for layer, x in zip(encoded.layers, encoded.layer_inputs)]
        with torch.inference_mode():
            weights = rollout_rows(layers[-options.rollout_layers:], rows, globals_t, encoded.window, top=att)
    else:
        weights = row_weight_arrays(att)
    for qi, (q, c) in enumerate(zip(queries, query_candidates)):
        p = probs[qi, : 1 + len(q.entities)]
        order = ranked(p)  # ties to "no brand", then to the nearer-listed brand
        choice, runner = int(order[0]), int(order[1]) if len(order) > 1 else 0
        brand = brands[q.entities[choice - 1]] if choice > 0 else None
        alt = rp.Alternative(brands[q.entities[runner - 1]] if runner > 0 else None, float(p[runner]))
        if brand is None and choice == 0 and runner > 0:
            alt = rp.Alternative(brands[q.entities[runner - 1]], float(p[runner]))
        merged = merge_rows(weights, range(q.tok_start, q.tok_end))
        shown = brand if brand is not None else alt.brand
        anchors = ()
        if shown is not None:
            i = brands.index(shown)
            hit = brand_of_token[merged[0]] == i
            scored = np.bincount(anchor_of_token[merged[0][hit]], weights=merged[1][hit],
                                 minlength=len(anchor_mentions[i]))  # (mentions,) attention to each anchor
            anchors = _anchors(anchor_mentions[i], anchor_starts[i], scored, tokens, q.tok_start, options.anchors)
        evidence = evidence_spans(tokens, merged, (c.start, c.end), options.evidence_spans)
        kind = "pronoun" if c.kind == "pronoun" else "nominal" if c.kind == "nominal" else "product"
        out.append(rp.Mention("", brand, kind, c.start, c.end, c.text, int(tokens.passage_of[q.tok_start]),
                              float(p[choice]), False, alt, rp.Attribution(options.attribution, anchors, evidence)))
    out.sort(key=lambda m: (m.start, m.end))
    return LinkResult(tuple(out), tuple(rejected))


def _cast(att, dtype):  # type: ignore[no-untyped-def]
    from .attribution import RowAttention

    return RowAttention(att.rows, att.keys, att.probs.to(dtype))


def _nearest_before(starts: np.ndarray, position: int) -> int:
    """Index of the last anchor starting before token `position` (the first anchor when none does)."""
    return max(int(np.searchsorted(starts, position)) - 1, 0)


def _token_distance(starts: np.ndarray, position: int) -> int:
    """Token distance from `position` to the nearest anchor start (`starts` sorted, non-empty)."""
    i = int(np.searchsorted(starts, position))
    return min(abs(int(starts[j]) - position) for j in (i - 1, i) if 0 <= j < len(starts))


def _anchor(m: ExplicitMention, tokens: TokenizedDocument, weight: float) -> rp.Anchor:
    first = tokens.token_span(m.start, m.end)[0]
    return rp.Anchor("", m.start, m.end, m.text, int(tokens.passage_of[first]), weight)


def _anchors(mentions: Sequence[ExplicitMention], starts: np.ndarray, scored: np.ndarray, tokens: TokenizedDocument,
             position: int, top: int) -> tuple[rp.Anchor, ...]:
    """The brand's anchor mentions by the attention the candidate gave them (`scored`), normalized."""
    total = float(scored.sum())
    if total <= 0:  # nothing reached: name the nearest preceding mention, with no weight
        return (_anchor(mentions[_nearest_before(starts, position)], tokens, 0.0),)
    share = rounded(scored / total, WEIGHT_DECIMALS)
    best = ranked(share, WEIGHT_DECIMALS)[:top]  # heaviest first, ties to the earlier mention
    return tuple(_anchor(mentions[j], tokens, float(share[j])) for j in sorted(best.tolist()) if share[j] > 0)


def _context_evidence(text: str, passage: tuple[int, int], mention: ExplicitMention,
                      catalog: Catalog) -> tuple[rp.WeightedSpan, ...]:
    words = _brand_words(catalog, mention.brand)
    spans = []
    for w in sorted(words):
        for found in re.finditer(r"(?<!\w)" + re.escape(w) + r"(?!\w)", text[passage[0]:passage[1]], re.IGNORECASE):
            spans.append((passage[0] + found.start(), passage[0] + found.end()))
    spans = sorted(set(spans))[:5]
    return tuple(rp.WeightedSpan(s, e, text[s:e], 1.0 / len(spans)) for s, e in spans)


def encode_for_linking(encoder: torch.nn.Module, tokens: TokenizedDocument, global_positions: np.ndarray,
                       keep_layers: int = 2) -> EncodedStates:
    """One encoder pass that keeps what linking needs: final states and the last layers' inputs."""
    n = tokens.n_tokens
    device = next(encoder.parameters()).device
    mask = torch.zeros(1, n, dtype=torch.bool, device=device)
    mask[0, torch.as_tensor(global_positions, dtype=torch.long, device=device)] = True
    with torch.inference_mode(), capture_layer_inputs(encoder, keep_layers) as inputs:
        out = encoder(torch.from_numpy(tokens.input_ids.copy())[None].to(device),  # (1, n)
                      torch.from_numpy(tokens.position_ids.copy())[None].to(device), mask)  # (1, n)
    layers = tuple(list(encoder.layers)[-keep_layers:])
    return EncodedStates(out.last_hidden[0], tuple(inputs), layers, encoder.config.window)


def load_linking(model: str | None = None, device: str = "cpu", dtype: str = "float32",
                 heads: str | Path | None = None):  # type: ignore[no-untyped-def]
    """(LoadedModel, encoder with the linking adapter merged, Linker) for scoring and evaluation."""
    from .adapters import load_adapter
    from .errors import ModelError
    from .models import load_model

    loaded = load_model(model, dtype=dtype, device=device)
    directory = Path(heads) if heads is not None else loaded.heads_dir / "linking"
    if not (directory / HEAD_FILE).is_file():
        raise ModelError(f"{directory}: no trained linking head (run `brandscan train linking`)")
    linker = Linker.load(directory)
    encoder = load_adapter(loaded.encoder, directory) if linker.adapter_path is not None else loaded.encoder
    encoder.eval()
    return loaded, encoder, linker
