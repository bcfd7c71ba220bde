"""Giving freed heap memory back to the system during a long document's linking.

Linking computes attention rows a chunk at a time, and each chunk's temporaries (tens of MB, of
sizes that vary with the chunk's span of keys) are below glibc's mmap threshold once that threshold
has risen, so they come from the heap. Freed, they stay resident: at 1M tokens the process grew by
about 0.6 GB over linking while its live data grew by far less. `malloc_trim` returns the free pages
of every arena (madvise), leaving every live allocation where it is, so nothing the analysis computes
moves or changes; it costs a walk over the free lists (milliseconds). Where the C library is not
glibc, there is nothing to call and the process keeps what it has.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # Looked up once per process: a missing symbol (musl, macOS) means there is nothing to release.
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def releasing(items: Iterable[T], every: int) -> Iterator[T]:
    """`items`, releasing free memory after each `every` of them (and once at the end)."""
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            release_free_memory()
    release_free_memory()
