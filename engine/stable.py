"""Choices on floats that do not depend on the thread count.

Torch splits reductions across threads, so `--threads 1` and `--threads 2` (or `--jobs`, which
divides the cores among workers) can give values that differ in the last bits. A decision taken on
raw floats (which brand a pronoun links to, which words are the evidence) could then differ between
two runs of one document, and the cache key does not include the thread count. So values are
rounded before they are compared, ties go to the lower index (the earlier position), and the small
scoring heads run on one thread.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

# The report's precision: report.py writes every float rounded to 4 decimals, so a probability is
# compared at the precision it is shown with.
DECIMALS = 4
# Attention weights spread over hundreds of keys and are small: they are ranked on a finer grid.
WEIGHT_DECIMALS = 6


def rounded(values: np.ndarray, decimals: int = DECIMALS) -> np.ndarray:
    """`values` as float64 rounded to `decimals` (what every comparison below sees)."""
    return np.round(np.asarray(values, dtype=np.float64), decimals)


def ranked(values: np.ndarray, decimals: int = DECIMALS) -> np.ndarray:
    """Indices of `values`, largest first after rounding; equal values keep index order."""
    values = rounded(values, decimals)
    return np.lexsort((np.arange(len(values)), -values))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run a small head on one torch thread: its reductions then add up in one fixed order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
