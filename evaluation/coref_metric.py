"""Antecedent accuracy of pronoun and nominal links on coreference documents, by distance bucket.

A query whose gold entity is named in the document is right when it is linked to that entity (to a
mention of its gold cluster). Its distance is in passages, from the query to the nearest named
mention of its gold entity: the same passage, 1-3 passages away, or further, where only the
encoder's global tokens can carry the link. Queries whose entity is never named should be linked to
nothing; their accuracy is reported apart.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

BUCKETS = ("same_passage", "1-3_passages", "further")


@dataclass(frozen=True)
class CorefDecision:
    kind: str  # "pronoun" | "nominal"
    gold: int  # entity index, -1 = not a named entity
    predicted: int
    passage_distance: int  # to the gold entity's nearest anchor; 0 when gold == -1


@dataclass(frozen=True)
class Accuracy:
    correct: int
    total: int

    @property
    def value(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class CorefScores:
    overall: Accuracy
    by_bucket: dict[str, Accuracy] = field(default_factory=dict)
    by_kind: dict[str, Accuracy] = field(default_factory=dict)
    unnamed_rejected: Accuracy = Accuracy(0, 0)


def bucket(passage_distance: int) -> str:
    return BUCKETS[0] if passage_distance == 0 else BUCKETS[1] if passage_distance <= 3 else BUCKETS[2]


def coref_scores(decisions: Sequence[CorefDecision]) -> CorefScores:
    tallies: dict[str, list[int]] = {}

    def add(key: str, ok: bool) -> None:
        tally = tallies.setdefault(key, [0, 0])
        tally[0] += ok
        tally[1] += 1

    for d in decisions:
        ok = d.predicted == d.gold
        if d.gold < 0:
            add("unnamed", ok)
            continue
        add("overall", ok)
        add("bucket:" + bucket(d.passage_distance), ok)
        add("kind:" + d.kind, ok)

    def get(key: str) -> Accuracy:
        return Accuracy(*tallies.get(key, [0, 0]))

    return CorefScores(
        overall=get("overall"),
        by_bucket={b: get("bucket:" + b) for b in BUCKETS},
        by_kind={k: get("kind:" + k) for k in ("pronoun", "nominal")},
        unnamed_rejected=get("unnamed"),
    )
