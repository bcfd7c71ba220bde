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


# Positions summed at once: the states are read a block at a time, in float32, so that a long
# document's (n, d) states are never copied whole (1.5 GB in float32 at 1M tokens).
BLOCK = 8192


def segment_means(states: torch.Tensor, index: torch.Tensor, count: int) -> torch.Tensor:
    """(count, d) float32 mean of the states of each segment; `index` (n,) gives each position's
    segment, -1 for none; an empty segment is zero."""
    d = states.shape[-1]
    sums = torch.zeros(count, d)
    sizes = torch.zeros(count)
    for at in range(0, states.shape[0], BLOCK):
        part = index[at:at + BLOCK]
        keep = part >= 0
        sums.index_add_(0, part[keep], states[at:at + BLOCK][keep].float())
        sizes.index_add_(0, part[keep], torch.ones(int(keep.sum())))
    return sums / sizes.clamp(min=1.0).unsqueeze(-1)


def _span_mean_max(states: torch.Tensor, spans: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    means = torch.stack([states[a:b].float().mean(0) for a, b in spans])  # (m, d)
    maxes = torch.stack([states[a:b].float().amax(0) for a, b in spans])  # (m, d)
    return means, maxes


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
