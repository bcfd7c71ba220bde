"""Choices on floats that do not depend on the thread count.

Torch splits reductions across threads, so `--threads 1` and `--threads 2` (or `--jobs`, which
divides the cores among workers) can give values that differ in the last bits. A decision taken on
raw floats (which brand a pronoun links to, which words are the evidence) could then differ between
two runs of one document, and the cache key does not include the thread count. So values are
rounded before they are compared, ties go to the lower index (the earlier position), and the small
scoring heads run on one thread. And the vector math library is warmed on one thread before any
parallel use (`warm_vector_math`).
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


# The float functions torch hands to MKL's vector math library (VML) on CPU, which this project calls
# (attention merges, attention rows, features) or may call through torch.
VECTOR_MATH = ("exp", "log", "log1p", "expm1", "tanh", "sqrt", "erf", "sin", "cos")


def warm_vector_math() -> None:
    """Call every VML function once, on this thread alone, before any parallel use.

    Torch splits a float exp or log of more than 2,048 values across its threads, and each thread calls
    MKL's VML. MKL picks a function's kernel on its first call; when that first call came from two threads
    at once, the worker thread sometimes ran a low-accuracy kernel for that one call (relative error
    1.5e-4 where the usual kernel is within 6e-8). That happened in 28 of 400 fresh processes at 2 threads
    and in none of 400 after this warm-up (bench/vector_math.py), and it made one report in about a
    hundred differ from the next run's. The model cannot learn around it: it is the library's state, not
    the input's.
    """
    import torch

    for dtype in (torch.float32, torch.float64):
        x = torch.full((8,), 0.5, dtype=dtype)  # under torch's 2,048-value grain: one thread
        for name in VECTOR_MATH:
            getattr(torch, name)(x)
