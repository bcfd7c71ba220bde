"""Per-epoch forms of the brand corpus in training: each document, each epoch, in one seeded form.

Forms (brand_augment.py, engine.catalog.minimal): `original`; `renamed` (invented names for its
non-ambiguous brands, text and catalogue); `distance` (brand-free paragraphs of the same corpus
inserted at paragraph breaks, so links become distant); `minimal` (the catalogue a new user would
write). Shares say how often each non-original form is drawn; the rest stay original. The draw for
(seed, epoch) is the same whatever else the run does, so a training card's seed fixes every form.
The LinkDocument shape carries no catalogue, so today `minimal` trains as `original` does; it is drawn
and recorded so that catalogue-reading features see the minimal catalogue once they exist.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from brandscan.engine.catalog import Catalog
from brandscan.engine.catalog.minimal import minimal_catalog
from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.brand_marks import BrandDoc
from brandscan.training.brand_augment import brand_free_paragraphs, insert_distance, rename_brands

Form = Literal["original", "renamed", "distance", "minimal"]
FORMS: tuple[Form, ...] = ("original", "renamed", "distance", "minimal")


@dataclass(frozen=True)
class AugmentShares:
    renamed: float = 0.3  # names memorised from 127 documents would not transfer to a user's brands
    distance: float = 0.2  # the corpus's own distant links are few; the product's headline case is distance
    minimal: float = 0.2  # a new user's catalogue has no hints
    min_inserted: int = 2  # paragraphs inserted by the `distance` form, drawn in [min_inserted, max_inserted]
    max_inserted: int = 8

    def __post_init__(self) -> None:
        shares = {"renamed": self.renamed, "distance": self.distance, "minimal": self.minimal}
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise BrandscanError(f"--augment-{name} {value}: a share must lie in [0, 1]")
        if sum(shares.values()) > 1.0 + 1e-9:
            raise BrandscanError(f"augment shares sum to {sum(shares.values()):.2f}: at most 1 "
                                 "(the rest of the documents stay original)")
        if not 0 < self.min_inserted <= self.max_inserted:
            raise BrandscanError(f"inserted paragraphs {self.min_inserted}-{self.max_inserted}: "
                                 "expected 0 < min <= max")

    @property
    def original(self) -> float:
        return max(0.0, 1.0 - self.renamed - self.distance - self.minimal)


@dataclass(frozen=True)
class BrandForm:
    doc: BrandDoc
    catalog: Catalog
    form: Form
    index: int  # position of the source document in the corpus


def _draw(shares: AugmentShares, rng: random.Random) -> Form:
    roll, edge = rng.random(), 0.0
    for form, share in (("renamed", shares.renamed), ("distance", shares.distance), ("minimal", shares.minimal)):
        edge += share
        if roll < edge:
            return form  # type: ignore[return-value]
    return "original"


def epoch_forms(docs: Sequence[BrandDoc], catalog: Catalog, shares: AugmentShares, seed: int, epoch: int,
                filler: Sequence[str] | None = None) -> list[BrandForm]:
    """Every document of `docs` in the form drawn for (seed, epoch); `filler` defaults to the brand-free
    paragraphs of `docs`. A `distance` draw on a one-paragraph document (nowhere to insert) stays original."""
    rng = random.Random(f"brand-forms:{seed}:{epoch}")
    filler = brand_free_paragraphs(docs) if filler is None else filler
    minimal = minimal_catalog(catalog)
    out = []
    for i, doc in enumerate(docs):
        form = _draw(shares, rng)
        if form == "renamed":
            renamed, renamed_catalog = rename_brands(doc, catalog, rng)
            out.append(BrandForm(renamed, renamed_catalog, form, i))
        elif form == "distance":
            count = rng.randint(shares.min_inserted, shares.max_inserted)
            spread = insert_distance(doc, filler, rng, count)
            out.append(BrandForm(spread, catalog, form if spread is not doc else "original", i))
        elif form == "minimal":
            out.append(BrandForm(doc, minimal, form, i))
        else:
            out.append(BrandForm(doc, catalog, "original", i))
    return out


def brand_epochs(docs: Sequence[BrandDoc], catalog: Catalog, shares: AugmentShares, seed: int,
                 epochs: int) -> Iterator[list[BrandForm]]:
    """epoch_forms for epochs 0..epochs-1 (the filler read once)."""
    filler = brand_free_paragraphs(docs)
    for epoch in range(epochs):
        yield epoch_forms(docs, catalog, shares, seed, epoch, filler)
