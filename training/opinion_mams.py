"""MAMS ATSA sentences as polarity items for the opinion head (Apache-2.0): the aspect term is the
judged reference, the clause holding it stands for the expression (MAMS marks no expression), and
the sentence is encoded by the same front half as a one-sentence document."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from brandscan.engine.stages.encode import FrontHalf, front_half
from brandscan.engine.stages.sentiment.layout import TokenLayout, token_layout
from brandscan.evaluation.datasets.absa import LABEL_OF, AbsaSentence


@dataclass(frozen=True, eq=False)
class PolarityItems:
    """One sentence: its states and (expression, reference, label) triples as word-piece ranges."""

    layout: TokenLayout
    states: torch.Tensor  # (n, d)
    input_ids: np.ndarray  # (n,) word-piece ids: the head's word features read them
    expressions: list[tuple[int, int]]
    references: list[tuple[int, int]]
    labels: list[int]  # HEAD_LABELS indexes


def _clause_range(layout: TokenLayout, first: int) -> tuple[int, int]:
    clause = layout.clause[first]
    positions = (layout.clause == clause).nonzero()[0]
    return int(positions[0]), int(positions[-1]) + 1


def sentence_items(sentence: AbsaSentence, setup: FrontHalf, encoder: torch.nn.Module, *, window: int,
                   budget: int) -> PolarityItems | None:
    if not sentence.terms:
        return None
    state = front_half(sentence.text, setup, encoder, window=window, budget=budget)  # type: ignore[arg-type]
    if state.encoded.states is None:
        return None
    layout = token_layout(state.tokens)
    expressions, references, labels = [], [], []
    for term in sentence.terms:
        try:
            first, last = state.tokens.token_span(term.start, term.end)
        except ValueError:
            continue
        expressions.append(_clause_range(layout, first))
        references.append((first, last))
        labels.append(LABEL_OF[term.polarity])
    if not labels:
        return None
    return PolarityItems(layout, state.encoded.states.last_hidden.float().clone(), state.tokens.input_ids.copy(),
                         expressions, references, labels)


def mams_items(sentences: Sequence[AbsaSentence], setup: FrontHalf, encoder: torch.nn.Module, *, window: int,
               budget: int) -> list[PolarityItems]:
    found = (sentence_items(s, setup, encoder, window=window, budget=budget) for s in sentences)
    return [item for item in found if item is not None]
