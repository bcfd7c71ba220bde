"""The sense of ambiguous names ("Apple", "Amazon"): the sense module's inputs for each name, and its
logit with the words around the name added where the linker has their model (sense_context.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.stable import single_thread
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.encode import DocState
from brandscan.engine.stages.linking.features import span_means
from brandscan.engine.stages.linking.head import SENSE_FEATURES
from brandscan.engine.stages.linking.sense_context import context_rows
from brandscan.engine.stages.mentions import ExplicitMention
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import name_context, opens_sentence

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.stages.linking.decide import Linker
    from brandscan.engine.stages.linking.profiles import BrandProfiles


def sense_logits(state: DocState, linker: Linker,
                 catalog: Catalog | None = None) -> tuple[list[Candidate], list[tuple[int, int]], torch.Tensor]:
    """Each ambiguous name of the document, its token span, and its sense logit (float32, >= 0: the
    brand): the head's sense module, plus the words around the name where the linker has their model.
    A head with `sense_profile` reads each name's brand profile from `catalog` through the linker's profiles."""
    states = state.encoded.states
    tokens = state.tokens
    aliases = [c for c in state.candidates if c.kind == "alias"]
    spans = [tokens.token_span(c.start, c.end) for c in aliases]
    if not aliases or states is None:
        return aliases, spans, torch.zeros(len(aliases))
    head_dtype = next(linker.head.parameters()).dtype
    with torch.inference_mode(), single_thread():
        profiles = name_profiles(linker.profiles, catalog, aliases) if linker.head.config.sense_profile else None
        vec, feats = sense_inputs(states.last_hidden, tokens, state.explicit, aliases, linker.head.config.sense_context,
                                  profiles)
        logits = linker.head.sense_logits(vec.to(head_dtype), feats.to(head_dtype)).float().cpu()
        if linker.sense_context is not None:
            logits = logits + linker.sense_context.adjustment([context_rows(tokens.input_ids, s, e) for s, e in spans])
    return aliases, spans, logits


def name_profiles(profiles: BrandProfiles | None, catalog: Catalog | None,
                  aliases: Sequence[Candidate]) -> torch.Tensor:
    """(S, d) the profile vector of each ambiguous name's brand: what a head with `sense_profile` reads."""
    if profiles is None or catalog is None:
        raise ValueError("a head with sense_profile needs the brands' profiles and the catalogue")
    return profiles.vectors([catalog.brand(c.brands[0]) for c in aliases])


def sense_inputs(hidden: torch.Tensor, tokens: TokenizedDocument, explicit: Sequence[ExplicitMention],
                 aliases: Sequence[Candidate], context: int = 0,
                 profiles: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The sense module's inputs for each ambiguous name: (mean state (S, d), or with `context` > 0
    that and the mean over the name and `context` tokens either side (S, 2d); SENSE_FEATURES (S, k)),
    float32 whatever the states' dtype: the module was trained on float32 means, and bfloat16 sums and
    counts lose that precision. With `profiles` ((S, d) unit profile vectors of each name's brand) the
    vector also ends with the cosine of the name's context mean (its own mean without `context`) with it."""
    text = tokens.text
    spans = [tokens.token_span(c.start, c.end) for c in aliases]
    passage_of = tokens.passage_of
    named: dict[str, int] = {}
    named_in: dict[tuple[str, int], int] = {}
    brands_in: dict[int, set[str]] = {}
    for m in explicit:
        if m.ambiguous:
            continue
        passage = int(passage_of[tokens.token_span(m.start, m.end)[0]])
        named[m.brand] = named.get(m.brand, 0) + 1
        named_in[(m.brand, passage)] = named_in.get((m.brand, passage), 0) + 1
        brands_in.setdefault(passage, set()).add(m.brand)
    feats = np.zeros((len(aliases), len(SENSE_FEATURES)), dtype=np.float32)
    for i, (c, (s, _)) in enumerate(zip(aliases, spans)):
        brand, passage = c.brands[0], int(passage_of[s])
        feats[i] = (c.text[:1].isupper(), len(c.text) > 1 and c.text.isupper(), opens_sentence(text, c.start),
                    np.log1p(named.get(brand, 0)), np.log1p(named_in.get((brand, passage), 0)),
                    np.log1p(len(brands_in.get(passage, set()) - {brand})), *name_context(text, c.start, c.end))
    width = hidden.shape[1] * (2 if context else 1) + (0 if profiles is None else 1)
    if not spans:
        return (hidden.new_zeros(0, width, dtype=torch.float32),
                hidden.new_zeros(0, len(SENSE_FEATURES), dtype=torch.float32))
    vec = span_means(hidden, spans, torch.float32)  # (S, d)
    if context:
        n = hidden.shape[0]
        around = [(max(0, s - context), min(n, e + context)) for s, e in spans]
        vec = torch.cat([vec, span_means(hidden, around, torch.float32)], dim=-1)  # (S, 2d)
    if profiles is not None:
        read = vec[:, -hidden.shape[1]:]  # the context mean (the name's own without context)
        cosine = (torch.nn.functional.normalize(read, dim=-1) * profiles.to(read)).sum(-1, keepdim=True)
        vec = torch.cat([vec, cosine], dim=-1)  # (S, width)
    return vec, torch.from_numpy(feats).to(device=hidden.device)
