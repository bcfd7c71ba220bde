"""Which training documents are held out (to choose epochs, shifts and thresholds): a seeded hash of
each document's name, so a document stays on its side when documents are added to the corpus and the
held-out figures of two corpus versions can be compared on the documents they share."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import TypeVar

T = TypeVar("T")


def _score(name: str, seed: int) -> float:
    """In [0, 1): the file name's (not its folder's) seeded hash, so a moved corpus splits the same."""
    digest = hashlib.sha256(f"{seed}:{PurePath(name).name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(name: str, share: float, seed: int) -> bool:
    """True for about `share` of all names, the same ones for a seed whatever else is in the corpus."""
    return _score(name, seed) < share


def split_by_name(items: Sequence[T], name: Callable[[T], str], share: float, seed: int) -> tuple[list[T], list[T]]:
    """(fit, held out) in the items' own order; at least one item is held out when share > 0."""
    scores = [_score(name(item), seed) for item in items]
    held = [s < share for s in scores]
    if share > 0 and items and not any(held):
        held[scores.index(min(scores))] = True  # a tiny corpus (a smoke run) still holds one document out
    return ([i for i, h in zip(items, held) if not h], [i for i, h in zip(items, held) if h])
