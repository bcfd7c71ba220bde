"""Freed heap memory goes back to the system during linking, and nothing else changes."""
from __future__ import annotations

import numpy as np
import pytest

from brandscan.engine import heap


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(heap._malloc_trim() is None, reason="not glibc: there is nothing to release")
def test_freed_heap_pages_go_back_to_the_system() -> None:
    # 2,000 blocks of 100 kB, under glibc's mmap threshold, so they come from the heap; one kept at
    # the top pins it, so freeing the rest leaves ~200 MB resident until it is released.
    blocks = [np.ones(100_000 // 8) for _ in range(2_000)]
    kept = np.ones(100_000 // 8)
    del blocks
    before = _resident_bytes()
    heap.release_free_memory()
    after = _resident_bytes()
    assert before - after > 100_000_000
    assert kept.sum() == 12_500  # the live block is untouched


def test_releasing_passes_every_item_through_and_releases_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    seen: list[int] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: calls.append(len(seen)))
    for item in heap.releasing(iter(range(7)), every=3):
        seen.append(item)
    assert seen == list(range(7))
    assert calls == [3, 6, 7]  # after each third item, and once at the end
