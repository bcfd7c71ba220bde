"""What each brand is, as the encoder reads it: the linking head's `profile_cosine` feature.

A noun phrase often names what kind of business its brand is ("the Danish skyr maker", "the scooter
company", "the bookkeeping app"), and a brand named four paragraphs back with two other brands in
between is told apart by that alone. The catalogue says what each brand is (its category, which even
the minimal catalogue a new user writes keeps), and the base encoder was trained for sentence
similarity: the mean final state of "Mayfly Scooters: e-scooter hire", through the same encoder as the
document, lands near the states of "the scooter company" in context. The head learns how far to trust
that cosine against recency and attention (features.py); nothing here is a rule.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from brandscan.engine.catalog.schema import Brand
from brandscan.engine.model.encoder import Encoder
from brandscan.engine.stages.encode import embed_texts

# Profile texts are a name and a category: a few word pieces, so any window covers them (dense path).
PROFILE_WINDOW = 256


def profile_text(brand: Brand) -> str:
    """What a brand's profile vector encodes: its name, then its category when the catalogue gives one."""
    return f"{brand.name}: {brand.category}" if brand.category else brand.name


class BrandProfiles:
    """Unit profile vectors of brands, one short encoder pass per distinct profile text, on first use.

    Each text is its own pass, so a brand's vector is the same whichever brands a document names and in
    whatever order they are asked for: reports do not depend on the catalogue's other entries. One per
    encoder (the Linker's, or a trainer's), not thread-safe. `tokenizer` is a loaded tokenizer or its file,
    read on first use: a run whose documents name no brand never loads it."""

    def __init__(self, encoder: Encoder, tokenizer: object | Path) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self._vectors: dict[str, Tensor] = {}

    def vectors(self, brands: Sequence[Brand]) -> Tensor:
        """(len(brands), d) float32 unit vectors, in the order given."""
        texts = [profile_text(b) for b in brands]
        new = sorted({t for t in texts if t not in self._vectors})
        if new:
            if isinstance(self.tokenizer, Path):
                from brandscan.engine.text.passages import load_tokenizer

                self.tokenizer = load_tokenizer(self.tokenizer)
            fresh = torch.nn.functional.normalize(embed_texts(new, self.encoder, self.tokenizer, PROFILE_WINDOW), dim=-1)
            self._vectors.update(zip(new, fresh))
        if not texts:
            return torch.zeros(0, self.encoder.config.hidden)
        return torch.stack([self._vectors[t] for t in texts])
