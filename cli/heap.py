"""How a brandscan process, and the workers it spawns, hand large freed blocks back to the system.

glibc serves a block at or above its mmap threshold with a mapping of its own, returned whole when
freed; smaller blocks come from the heap, which keeps what it frees. The threshold starts at 128 kB
and rises to each freed mapped block's size (up to 32 MB), so after a few chunks every temporary of
linking's attention rows (3-25 MB each) lives in the heap, and the heap grows with the document as
freed chunks and kept results interleave. Fixed at 8 MB it stays put: at 1M tokens in float32 the
whole analysis peaked at 2.57 GiB instead of 2.83 (DESIGN.md: under 3 GB), for about 5% more time at
106k tokens, most of it in linking, where each 25 MB chunk then costs fresh pages (bench/README.md)."""
from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 8 << 20  # bytes
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
ENV = "MALLOC_MMAP_THRESHOLD_"  # glibc reads it when a process starts


def return_large_blocks() -> None:
    """Fix the threshold in this process and in the workers it spawns later; a value the user set in
    the environment wins (glibc applied it at start), and a C library without mallopt is left as it is."""
    if ENV in os.environ:
        return
    os.environ[ENV] = str(MMAP_THRESHOLD)  # spawned workers are new processes: glibc reads it there
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocator does as it does
        pass
