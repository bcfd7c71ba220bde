"""GAP's official scoring: F1 over (pronoun, name) pair decisions, by gender, and bias F/M.

Each GAP row gives two pairs (pronoun-A, pronoun-B); a pair is positive when the name is the
pronoun's antecedent. A system that links the pronoun to A predicts A-positive and B-negative;
linking to neither predicts both negative. This follows gap_scorer.py of the GAP release.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GapDecision:
    gender: str  # "M" | "F"
    gold: int  # 0 = A, 1 = B, -1 = neither
    predicted: int  # same coding


@dataclass(frozen=True)
class GapScores:
    masculine: float  # F1 in percent
    feminine: float
    overall: float
    bias: float  # F1 feminine / F1 masculine
    pairs: int


def _f1(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 100.0 * 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def gap_scores(decisions: Sequence[GapDecision]) -> GapScores:
    counts = {"M": [0, 0, 0], "F": [0, 0, 0]}  # tp, fp, fn
    for d in decisions:
        row = counts[d.gender]
        for side in (0, 1):
            gold, predicted = d.gold == side, d.predicted == side
            row[0] += gold and predicted
            row[1] += predicted and not gold
            row[2] += gold and not predicted
    m, f = counts["M"], counts["F"]
    f1_m, f1_f = _f1(*m), _f1(*f)
    overall = _f1(m[0] + f[0], m[1] + f[1], m[2] + f[2])
    return GapScores(f1_m, f1_f, overall, f1_f / f1_m if f1_m else 0.0, 2 * len(decisions))
