"""One summary across many reports (`--format summary-json`, `--summary`), folded as they stream.

Memory stays bounded by the number of brands and aspects, not documents: each report is added and
dropped. The figures follow the metric definitions in docs/scale.md (see `gates.metrics`).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brandscan.engine.report import EXPLICIT_KINDS, POLARITIES

SUMMARY_SCHEMA = "brandscan.summary/1"


@dataclass
class _Brand:
    """Running totals of one brand (mutable: an accumulator, never handed out)."""

    name: str
    documents: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    aspects: dict[str, Counter[str]] = field(default_factory=dict)
    score_sum: float = 0.0
    opinions: int = 0


class Rollup:
    """Add report dicts (`report.to_dict`) one by one; `to_dict()` gives the summary object."""

    def __init__(self) -> None:
        self.documents = 0
        self.failed = 0
        self.tokens = 0
        self.unlinked = 0
        self.fired: Counter[str] = Counter()
        self._brands: dict[str, _Brand] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        self.documents += 1
        if "error" in record:
            self.failed += 1
            return
        self.tokens += int(record["stats"]["tokens"])
        self.fired.update(record.get("fired", ()))
        names = {b["id"]: b["name"] for b in record.get("brands", ())}
        seen: set[str] = set()
        for mention in record.get("mentions", ()):
            brand_id = mention["brand"]
            if brand_id is None:
                self.unlinked += 1
                continue
            self._brand(brand_id, names).kinds[mention["kind"]] += 1
            seen.add(brand_id)
        for opinion in record.get("opinions", ()):
            if opinion["brand"] is None:
                continue
            brand = self._brand(opinion["brand"], names)
            brand.aspects.setdefault(opinion["aspect"], Counter())[opinion["polarity"]] += 1
            brand.score_sum += float(opinion["score"])
            brand.opinions += 1
            seen.add(opinion["brand"])
        for brand_id in seen:
            self._brands[brand_id].documents += 1

    def _brand(self, brand_id: str, names: Mapping[str, str]) -> _Brand:
        if brand_id not in self._brands:
            self._brands[brand_id] = _Brand(name=names.get(brand_id, brand_id))
        return self._brands[brand_id]

    def brands(self) -> list[dict[str, Any]]:
        """Per brand, sorted by total mentions (most first), then id."""
        rows = []
        for brand_id, brand in self._brands.items():
            explicit = sum(n for kind, n in brand.kinds.items() if kind in EXPLICIT_KINDS)
            total = sum(brand.kinds.values())
            polarity = Counter[str]()
            for counts in brand.aspects.values():
                polarity.update(counts)
            rows.append({
                "id": brand_id,
                "name": brand.name,
                "documents": brand.documents,
                "mentions": {**dict(sorted(brand.kinds.items())), "total": total},
                "explicit": explicit,
                "linked": total - explicit,
                "opinions": {
                    aspect: {p: counts.get(p, 0) for p in POLARITIES}
                    for aspect, counts in sorted(brand.aspects.items())
                },
                "polarity": {p: polarity.get(p, 0) for p in POLARITIES},
                "net_sentiment": round(brand.score_sum / brand.opinions, 4) if brand.opinions else None,
            })
        rows.sort(key=lambda row: (-row["mentions"]["total"], row["id"]))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SUMMARY_SCHEMA,
            "documents": self.documents,
            "failed": self.failed,
            "tokens": self.tokens,
            "unlinked": self.unlinked,
            "fired": dict(sorted(self.fired.items())),
            "brands": self.brands(),
        }
