"""Pooled vectors the opinion head reads: expressions, references, their clauses and sentences."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from brandscan.engine.stages.sentiment.layout import TokenLayout


@dataclass(frozen=True, eq=False)
class Pooled:
    expression: torch.Tensor  # (E, 2d) mean and max of each expression's word pieces
    reference: torch.Tensor  # (R, d) mean of each reference's word pieces
    sentence: torch.Tensor  # (E, d) mean of each expression's sentence
    context: torch.Tensor  # (E, 3d) expression mean, clause mean, sentence mean


# Positions read at once (here and by the opinion tagger): the states are converted to float32 a
# block at a time, so that a long document's (n, d) states are never copied whole (1.5 GB at 1M tokens).
STATE_BLOCK = 8192


def segment_means(states: torch.Tensor, index: torch.Tensor, count: int) -> torch.Tensor:
    """(count, d) float32 mean of the states of each segment; `index` (n,) gives each position's
    segment, -1 for none; an empty segment is zero."""
    d = states.shape[-1]
    sums = torch.zeros(count, d)
    sizes = torch.zeros(count)
    for at in range(0, states.shape[0], STATE_BLOCK):
        part = index[at:at + STATE_BLOCK]
        keep = part >= 0
        sums.index_add_(0, part[keep], states[at:at + STATE_BLOCK][keep].float())
        sizes.index_add_(0, part[keep], torch.ones(int(keep.sum())))
    return sums / sizes.clamp(min=1.0).unsqueeze(-1)


def _span_mean_max(states: torch.Tensor, spans: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    means, maxes = [], []
    for a, b in spans:  # one float32 copy per span, let go before the next: never all spans' at once
        piece = states[a:b].float()
        means.append(piece.mean(0))
        maxes.append(piece.amax(0))
    return torch.stack(means), torch.stack(maxes)  # (m, d) each


def pool(states: torch.Tensor, layout: TokenLayout, expressions: Sequence[tuple[int, int]],
         references: Sequence[tuple[int, int]]) -> Pooled:
    """Pool `states` (n, d) over expressions and references (positions [first, last)), in float32."""
    sentence_means = segment_means(states, torch.from_numpy(layout.sentence), max(1, len(layout.sentences)))
    clause_means = segment_means(states, torch.from_numpy(layout.clause), max(1, len(layout.clauses)))
    e_mean, e_max = _span_mean_max(states, expressions)
    firsts = torch.tensor([a for a, _ in expressions])
    sentence = sentence_means[torch.from_numpy(layout.sentence)[firsts].clamp(min=0)]  # (E, d)
    clause = clause_means[torch.from_numpy(layout.clause)[firsts].clamp(min=0)]  # (E, d)
    reference = _span_mean_max(states, references)[0] if references else torch.zeros(0, states.shape[-1])
    return Pooled(torch.cat([e_mean, e_max], -1), reference, sentence, torch.cat([e_mean, clause, sentence], -1))
