"""The brand corpus as linking training data: folders read (dev refused), documents prepared, and the
per-epoch forms (brand_forms.py) handed to the training loop as replacements of the original items."""
from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from brandscan.engine.catalog import Catalog
from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.brand_marks import BrandDoc
from brandscan.evaluation.datasets.brands import brand_to_link, read_brand_corpus
from brandscan.evaluation.linking_items import Prepared, prepare
from brandscan.training.brand_augment import brand_free_paragraphs
from brandscan.training.brand_forms import AugmentShares, epoch_forms

DEV = "dev"  # the corpus split that only ever scores


def refuse_dev(folder: Path, option: str = "--brands") -> None:
    """A brand folder whose last part is `dev` is held out for figures: training on it is an error
    (named by the `option` that gave it)."""
    if folder.name == DEV or folder.resolve().name == DEV:
        raise BrandscanError(f"{option} {folder}: corpus dev never trains anything "
                             "(give a train folder, e.g. corpus/brands/train)")


@dataclass
class _Corpus:
    folder: Path
    docs: tuple[BrandDoc, ...]
    catalog: Catalog
    filler: list[str]
    items: dict[int, int] = field(default_factory=dict)  # document index -> item index in the training list


@dataclass
class BrandTraining:
    corpora: list[_Corpus]
    shares: AugmentShares
    seed: int
    drawn: Counter = field(default_factory=Counter)  # form -> documents shown in it, all epochs

    def attach(self, items: list[Prepared], tokenizer, budget: int,  # type: ignore[no-untyped-def]
               sources: dict[str, int]) -> Callable[[int], dict[int, Prepared]]:
        """Append the original documents to `items` and return the per-epoch form function for train()."""
        for corpus in self.corpora:
            for i, doc in enumerate(corpus.docs):
                link = brand_to_link(doc)
                prepared = prepare(link, tokenizer, budget) if link is not None else None
                if prepared is not None:
                    corpus.items[i] = len(items)
                    items.append(prepared)
            sources[f"brands:{corpus.folder}"] = len(corpus.items)

        def forms(epoch: int) -> dict[int, Prepared]:
            out: dict[int, Prepared] = {}
            for corpus in self.corpora:
                for form in epoch_forms(corpus.docs, corpus.catalog, self.shares, self.seed, epoch, corpus.filler):
                    if form.index not in corpus.items:
                        continue
                    self.drawn[form.form] += 1
                    if form.form in ("original", "minimal"):  # the same LinkDocument (no catalogue in it)
                        continue
                    link = brand_to_link(form.doc)
                    if link is None:
                        continue
                    link = dataclasses.replace(link, id=f"{link.id}+{form.form}")
                    prepared = prepare(link, tokenizer, budget)
                    if prepared is not None:
                        out[corpus.items[form.index]] = prepared
            print(f"epoch {epoch} brand forms: {dict(sorted(self.drawn.items()))} (all epochs so far)",
                  file=sys.stderr, flush=True)
            return out

        return forms

    def card_lines(self) -> list[str]:
        if not self.corpora:
            return []
        s = self.shares
        return [f"- Brand corpus (CC-BY-4.0): {', '.join(str(c.folder) for c in self.corpora)}; explicit marks are "
                "the anchors, implicit marks queries of their brand, unmarked it/they pronouns and {{x|-}} marks",
                "  queries of none (evaluation/datasets/brands.py). Each epoch every document is drawn, seeded, in "
                f"one form: renamed {s.renamed:.0%}, distance {s.distance:.0%} ({s.min_inserted}-{s.max_inserted} "
                f"brand-free paragraphs), minimal catalogue {s.minimal:.0%}, original {s.original:.0%}",
                f"  (training/brand_forms.py); documents shown per form, all epochs: {dict(sorted(self.drawn.items()))}."]


def brand_training(folders: Sequence[Path], renamed: float, distance: float, minimal: float, seed: int,
                   cap: slice = slice(None)) -> BrandTraining:
    """Read the brand folders (dev refused before anything is read) with their augmentation shares."""
    shares = AugmentShares(renamed=renamed, distance=distance, minimal=minimal)
    for folder in folders:
        refuse_dev(folder)
    corpora = []
    for folder in folders:
        docs, catalog = read_brand_corpus(folder)
        docs = docs[cap]
        corpora.append(_Corpus(folder, docs, catalog, brand_free_paragraphs(docs)))
    return BrandTraining(corpora, shares, seed)
