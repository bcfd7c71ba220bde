"""The front half, written once: tokenize, explicit mentions, candidates, global tokens, and the one
encoder pass. The Analyzer, `eval`, bench/ and training all call it, so a figure measured through
one is the figure the others give.

    state = front_half(text, FrontHalf(catalog, lexicon, tokenizer), encoder, window=256, budget=512)
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from brandscan.engine.catalog import Catalog
from brandscan.engine.model.encoder import Encoder, Layer
from brandscan.engine.model.rows import LayerAttention
from brandscan.engine.stages.candidates import Candidate, CandidateTables, candidate_tables, find_candidates
from brandscan.engine.stages.globals import select_global_tokens
from brandscan.engine.stages.mentions import ExplicitMention, find_explicit
from brandscan.engine.text.lexicon import Lexicon
from brandscan.engine.text.passages import TokenizedDocument, tokenize_document

# Linking recomputes attention rows of the last layer (and rollout those of the last two): the encoder
# pass keeps the inputs of this many layers. Each kept input is a whole (n, d) copy of the states
# (1.6 GB at 1M tokens in float32), so a run keeps only what its attribution reads (kept_layers).
KEEP_LAYERS = 2
PASSAGE_TOKENS = 510  # word pieces per passage (AnalyzerConfig.passage_tokens' default)


@dataclass(frozen=True, eq=False)
class EncodedStates:
    """What linking needs from the encoder pass (no attention maps)."""

    last_hidden: Tensor  # (n, d) final hidden states
    layer_inputs: tuple[Tensor, ...]  # inputs of the last R layers, lowest first, each (n, d)
    layers: tuple[Layer, ...]  # those R encoder layers (their row_attention)
    window: int  # the window this pass ran with
    # per kept layer, its global queries' log softmax sums (h, g) as this pass found them; () when the
    # pass was dense (a short document)
    global_log_normalizers: tuple[Tensor, ...] = ()

    def attention(self, i: int) -> LayerAttention:
        """What recomputing attention rows of kept layer `i` takes (model/rows.py), with what the pass kept."""
        normalizer = self.global_log_normalizers[i] if self.global_log_normalizers else None
        return self.layers[i].attention_of(self.layer_inputs[i], normalizer)


@dataclass(frozen=True, eq=False)
class Encoded:
    """What the encoder pass leaves for the later stages."""

    global_positions: np.ndarray  # (g,) sorted sequence positions of the global tokens
    states: EncodedStates | None  # None for an empty document
    seconds: float  # the encoder pass alone


@dataclass(frozen=True, eq=False)
class FrontHalf:
    """What the front half reads besides the document: built once, shared by every document."""

    catalog: Catalog
    lexicon: Lexicon  # mentions.brand_lexicon(catalog)
    tokenizer: object  # tokenizers.Tokenizer
    author: str | None = None  # brand id that first-person plural refers to outside speaker turns
    passage_tokens: int = PASSAGE_TOKENS
    keep_layers: int = KEEP_LAYERS  # layer inputs the encoder pass keeps (kept_layers)
    tables: CandidateTables = field(init=False)  # candidate_tables(catalog), built with the setup

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", candidate_tables(self.catalog))


# The type a float32 pass stores its states in between layers (Encoder.forward's store_dtype): 11
# significant bits, against bfloat16's 8, and the states' range fits (LayerNorm outputs, under 40).
STORE_DTYPE = torch.float16


def kept_layers(attribution: str, rollout_layers: int = KEEP_LAYERS) -> int:
    """Layer inputs linking reads: the last layer's for attention attribution (the head's attention
    mass and the evidence rows), the last `rollout_layers` for rollout."""
    return rollout_layers if attribution == "rollout" else 1


@dataclass(frozen=True, eq=False)
class DocState:
    """One document after the front half. Frozen: later stages read it and return their own values."""

    text: str
    tokens: TokenizedDocument
    explicit: tuple[ExplicitMention, ...]
    candidates: tuple[Candidate, ...]
    encoded: Encoded

    def after_linking(self) -> DocState:
        """This state as the stages after linking read it: the kept layer inputs, each as large as the
        final states (0.8 GB at 1M tokens in bfloat16), are no longer held."""
        states = self.encoded.states
        if states is None or not states.layer_inputs:
            return self
        encoded = replace(self.encoded, states=replace(states, layer_inputs=(), layers=(), global_log_normalizers=()))
        return replace(self, encoded=encoded)


def global_positions(tokens: TokenizedDocument, anchors: Sequence[tuple[int, str]], budget: int) -> np.ndarray:
    """(g,) sorted global token positions: passage markers and brand anchors (first token, key),
    within `budget` (stages/globals.py decides which anchors stay)."""
    markers = np.flatnonzero(tokens.is_marker).tolist()
    return np.asarray(select_global_tokens(tokens.n_tokens, markers, list(anchors), budget), dtype=np.int64)


def encoder_pass(encoder: Encoder, tokens: TokenizedDocument, positions: np.ndarray, window: int,
                 keep_layers: int = KEEP_LAYERS) -> EncodedStates:
    """One encoder pass over the whole document with `positions` global, keeping the inputs of the
    last `keep_layers` layers. Gradient mode is the caller's (training differentiates through it);
    `window` is this pass's own: the encoder is not changed."""
    n = tokens.n_tokens
    device = next(encoder.parameters()).device
    # A float32 pass (float32 or int8 weights) stores its states between layers in float16, half the
    # memory: the whole analysis of 1M tokens peaked at 2.80-2.94 GiB, from 4.24 (issue 16,
    # bench/README.md). Not when training differentiates through the pass.
    computes_float32 = encoder.layers[-1].compute_dtype == torch.float32
    store = STORE_DTYPE if computes_float32 and not torch.is_grad_enabled() else None
    mask = torch.zeros(1, n, dtype=torch.bool, device=device)  # (1, n)
    mask[0, torch.as_tensor(positions, dtype=torch.long, device=device)] = True
    out = encoder(torch.from_numpy(tokens.input_ids.copy())[None].to(device),  # (1, n)
                  torch.from_numpy(tokens.position_ids.copy())[None].to(device), mask,  # (1, n)
                  keep_layer_inputs=keep_layers, window=window, store_dtype=store)
    layers = tuple(list(encoder.layers)[len(encoder.layers) - keep_layers:])
    return EncodedStates(out.last_hidden[0], tuple(x[0] for x in out.layer_inputs), layers, window,
                         tuple(t[0] for t in out.global_log_normalizers))


def embed_texts(texts: Sequence[str], encoder: Encoder, tokenizer: object, window: int) -> torch.Tensor:
    """(len(texts), d) float32: the mean final state of each text's word pieces, one short pass each, so
    a text's vector never depends on which other texts were asked for (catalogue aspects, brand profiles)."""
    rows = []
    with torch.inference_mode():
        for text in texts:
            tokens = tokenize_document(text, tokenizer, 510)  # type: ignore[arg-type]
            states = encoder_pass(encoder, tokens, np.flatnonzero(tokens.is_marker), window, keep_layers=0)  # type: ignore[arg-type]
            real = torch.from_numpy(~tokens.is_special)
            rows.append(states.last_hidden[real].float().mean(0))
        keys = torch.stack(rows) if rows else torch.zeros(0, encoder.config.hidden)
    return keys.clone()  # a normal tensor outside inference mode: training reads it under autograd


def encode(tokens: TokenizedDocument, explicit: Sequence[ExplicitMention], encoder: Encoder, *, window: int,
           budget: int, keep_layers: int = KEEP_LAYERS) -> Encoded:
    """Global-token choice (passage markers + brand anchors) and the encoder pass, timed."""
    anchors = [(tokens.token_span(m.start, m.end)[0], m.brand) for m in explicit]
    positions = global_positions(tokens, anchors, budget)
    started = time.perf_counter()
    states = None
    if tokens.n_tokens:
        with torch.inference_mode():
            states = encoder_pass(encoder, tokens, positions, window, keep_layers)
    return Encoded(global_positions=positions, states=states, seconds=time.perf_counter() - started)


def front_half(text: str, setup: FrontHalf, encoder: Encoder, *, window: int, budget: int) -> DocState:
    """Tokens, explicit mentions, candidates and the encoder pass of one document."""
    tokens = tokenize_document(text, setup.tokenizer, setup.passage_tokens)  # type: ignore[arg-type]
    explicit = find_explicit(text, setup.lexicon, setup.catalog)
    candidates = find_candidates(text, explicit, setup.tables, author=setup.author)
    encoded = encode(tokens, explicit, encoder, window=window, budget=budget, keep_layers=setup.keep_layers)
    return DocState(text, tokens, tuple(explicit), tuple(candidates), encoded)
