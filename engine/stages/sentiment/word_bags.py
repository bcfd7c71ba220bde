"""The words an opinion head reads besides the encoder's states: each expression's word pieces, the
pairs of neighbouring word pieces inside it, and the other word pieces of its clause, as rows of one
learned table (opinion_head.OpinionHead.word_vectors).

Why: the encoder was trained for sentence similarity, and its frozen states tell "lost my bag" from
"were lovely" and "would not buy again" from "would buy again" less well than the words themselves
do; the head learns what each word and word pair says about polarity and aspect from the corpus and
MAMS, so no word list is written by hand.

Row ids: an expression's word piece w is w; a pair (a, b) is VOCAB + hash(a, b) mod PAIR_BUCKETS; a
clause word piece outside the expression is VOCAB + PAIR_BUCKETS + w.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from brandscan.engine.stages.sentiment.layout import TokenLayout

VOCAB = 30522  # the MiniLM tokenizer's word pieces
PAIR_BUCKETS = 32768
ROWS = 2 * VOCAB + PAIR_BUCKETS
_PAIR_MULTIPLIER = 1_000_003  # a prime beyond VOCAB: (a, b) and (b, a) land apart


def word_bags(input_ids: np.ndarray, layout: TokenLayout, spans: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """The row ids each expression [first, last) of `spans` reads (int64; never empty, as an
    expression holds a word piece). Linear in the document and the expressions' clauses."""
    real = np.flatnonzero(layout.real)
    clause_of = layout.clause[real]  # non-decreasing: clauses are numbered in document order
    out = []
    for first, last in spans:
        ids = input_ids[first:last][layout.real[first:last]].astype(np.int64) % VOCAB
        pairs = VOCAB + (ids[:-1] * _PAIR_MULTIPLIER + ids[1:]) % PAIR_BUCKETS
        clause = layout.clause[first]
        lo, hi = np.searchsorted(clause_of, clause, "left"), np.searchsorted(clause_of, clause, "right")
        around = real[lo:hi] if clause >= 0 else real[:0]
        around = around[(around < first) | (around >= last)]
        context = VOCAB + PAIR_BUCKETS + input_ids[around].astype(np.int64) % VOCAB
        out.append(torch.from_numpy(np.concatenate([ids, pairs, context])))
    return out


def packed(bags: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat row ids, offsets) for nn.EmbeddingBag."""
    sizes = torch.tensor([0] + [len(b) for b in bags[:-1]], dtype=torch.long)
    return torch.cat(list(bags)) if bags else torch.zeros(0, dtype=torch.long), torch.cumsum(sizes, 0)
