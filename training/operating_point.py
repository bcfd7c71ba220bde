"""The linker's default operating point: how far "no brand" is moved against the brands after the head
was calibrated for link F1. The design's bar is that a linker below the nearest-brand rule is broken, so
the point is the smallest shift at which the whole analysis of held-out training documents links more
brand references right than both floors (nearest brand, most frequent brand), for every kind of
reference at once. It is chosen on held-out training documents, never on dev."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# The implicit figures that must each beat both floors: all references, and each kind the issue names.
IMPLICIT_FIGURES: tuple[str, ...] = ("implicit_accuracy", "implicit_accuracy_pronoun",
                                     "implicit_accuracy_nominal", "implicit_accuracy_distant")
# One point: below it a difference on a few thousand references is noise, not a win over the rule.
MARGIN = 0.01
STEP = 0.25  # the grid calibrate() uses for the head's own shifts
LIMIT = 4.0  # past this the head has little "no brand" left: report that no point exists

Figures = Mapping[str, float | int]


@dataclass
class OperatingPoint:
    """The chosen bias (None when no bias up to LIMIT beats the floors) and every bias tried, in order."""
    bias: float | None
    tried: dict[float, dict[str, float | int]] = field(default_factory=dict)


def shortfall(model: Figures, floors: Mapping[str, Figures], margin: float = MARGIN) -> dict[str, float]:
    """Each implicit figure that is not at least `margin` above every floor, with how far it is from that."""
    out: dict[str, float] = {}
    for key in IMPLICIT_FIGURES:
        need = max(float(f[key]) for f in floors.values()) + margin
        if float(model[key]) < need:
            out[key] = round(need - float(model[key]), 4)
    return out


def choose_bias(figures_at: Callable[[float], dict[str, float | int]], floors: Mapping[str, Figures],
                margin: float = MARGIN, step: float = STEP, limit: float = LIMIT) -> OperatingPoint:
    """Accuracy only grows with the bias (more links), precision only falls: from 0, step up until every
    figure beats the floors, or, when 0 already does, step down while it still does."""
    point = OperatingPoint(None)

    def beats(bias: float) -> bool:
        point.tried[bias] = figures_at(bias)
        return not shortfall(point.tried[bias], floors, margin)

    bias = 0.0
    if beats(bias):
        while bias - step >= -limit and beats(bias - step):
            bias -= step
        point.bias = bias
        return point
    while bias + step <= limit:
        bias += step
        if beats(bias):
            point.bias = bias
            break
    return point
