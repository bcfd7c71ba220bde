"""Encoded head examples kept on disk, one file per document form, named by the hash of everything the
encoder pass read: when the corpus grows, only the new documents (and forms whose text changed) run
through the encoder again."""
from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from brandscan.engine.catalog.schema import Brand, Catalog
from brandscan.engine.stages.mentions import brand_entries
from brandscan.evaluation.brand_marks import BrandDoc

T = TypeVar("T")


# The code that decides what a document form's examples hold (matching, candidates, turns, features, the
# reader of the marks, augmentation): a change to any of it (a candidate rule, say) makes every cached form
# stale, and a stale form would train the head on inputs the analyzer no longer makes.
EXAMPLE_MODULES = (
    "brandscan.engine.stages.candidates", "brandscan.engine.stages.mentions", "brandscan.engine.stages.globals",
    "brandscan.engine.stages.encode", "brandscan.engine.stages.linking.decide",
    "brandscan.engine.stages.linking.features", "brandscan.engine.stages.linking.profiles",
    "brandscan.engine.stages.linking.sense", "brandscan.engine.text.passages", "brandscan.engine.text.lexicon",
    "brandscan.engine.text.words", "brandscan.engine.text.spans",
    "brandscan.evaluation.brand_marks", "brandscan.training.linking_head", "brandscan.training.brand_augment",
)


def source_sha256(modules: Sequence[str] = EXAMPLE_MODULES) -> str:
    """One hash of the source files of `modules`: part of an example cache's base."""
    digest = hashlib.sha256()
    for name in modules:
        module_file = importlib.import_module(name).__file__
        assert module_file is not None
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The content hash of one file (an adapter, a GAP table), so a changed input is never read as cached."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def brands_in(text: str, catalog: Catalog) -> list[Brand]:
    """The catalogue brands one of whose names occurs in `text` (case aside): the only entries that can
    change what the front half finds there, so merging new brands into the catalogue keeps old forms cached."""
    low = text.lower()
    return [b for b in catalog.brands if any(e.text.lower() in low for e in brand_entries(b))]


def form_key(doc: BrandDoc, catalog: Catalog) -> list[object]:
    """What one brand document form's examples depend on, besides the encoder and the feature code."""
    return [doc.text, repr(doc.gold), doc.author, [repr(b) for b in brands_in(doc.text, catalog)]]


class ExampleCache:
    """A folder of `<sha256>.pt` files; `base` names the encoder, window and feature set they were made with."""

    def __init__(self, folder: Path | None, base: list[object]) -> None:
        self.folder = folder
        self.base = base
        self.hits = 0
        self.misses = 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: list[object], make: Callable[[], T]) -> T:
        """The cached value for `key`, else `make()` written under it."""
        if self.folder is None:
            self.misses += 1
            return make()
        digest = hashlib.sha256(json.dumps([self.base, key], sort_keys=True).encode()).hexdigest()
        path = self.folder / f"{digest}.pt"
        if path.is_file():
            self.hits += 1
            return torch.load(path, weights_only=False)
        self.misses += 1
        value = make()
        partial = path.with_suffix(".part")
        torch.save(value, partial)
        partial.replace(path)  # a run stopped mid-write never leaves a truncated entry behind
        return value
