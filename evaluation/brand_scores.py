"""`eval brands` figures: what a system predicted for annotated brand documents, scored against the gold.

A system's output for one document is a `Prediction` (from an analyzer report, or from a baseline
rule), so the model and its floors are scored by the same code on the same gold.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from brandscan.engine.catalog import Catalog
from brandscan.engine.report import EXPLICIT_KINDS, Report
from brandscan.engine.text.lexicon import fold_key
from brandscan.evaluation.brand_marks import BrandDoc
from brandscan.evaluation.corpus_check import distant_flags

_POLARITY = {"positive": "pos", "negative": "neg", "neutral": "neu"}
_SIGN = {"pos": 1, "neg": -1, "neu": 0}


@dataclass(frozen=True)
class PredictedMention:
    start: int
    end: int
    brand: str | None  # None: reported without a brand (a rejected name, an unlinked candidate)
    implicit: bool


@dataclass(frozen=True)
class PredictedOpinion:
    start: int
    end: int
    brand: str
    aspect: str
    polarity: str  # pos | neg | neu


@dataclass(frozen=True)
class Prediction:
    mentions: tuple[PredictedMention, ...]
    opinions: tuple[PredictedOpinion, ...]
    aspect_signs: dict[tuple[str, str], int]  # (brand, aspect) -> sign of the report's summary


def prediction_from_report(report: Report) -> Prediction:
    mentions = tuple(PredictedMention(m.start, m.end, m.brand, m.kind not in EXPLICIT_KINDS)
                     for m in report.mentions)
    opinions = []
    for o in report.opinions:
        if o.brand is None:
            continue
        spans = o.opinion_spans or (o.aspect_span,)
        opinions.append(PredictedOpinion(min(s.start for s in spans), max(s.end for s in spans), o.brand,
                                         o.aspect, _POLARITY[o.polarity]))
    signs = {}
    for brand in report.brands:
        for s in brand.sentiment:
            signs[(brand.id, s.aspect)] = (s.mean_score > 0) - (s.mean_score < 0)
    return Prediction(mentions, tuple(opinions), signs)


@dataclass
class Tally:
    hit: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.hit += bool(ok)
        self.total += 1

    @property
    def value(self) -> float:
        return round(self.hit / self.total, 4) if self.total else 0.0


@dataclass
class BrandFigures:
    explicit_tp: int = 0
    explicit_fp: int = 0
    explicit_fn: int = 0
    tallies: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    opinion_tp: int = 0
    opinion_predicted: int = 0
    opinion_gold: int = 0

    def as_dict(self) -> dict[str, float | int]:
        p = self.explicit_tp / (self.explicit_tp + self.explicit_fp) if self.explicit_tp + self.explicit_fp else 0.0
        r = self.explicit_tp / (self.explicit_tp + self.explicit_fn) if self.explicit_tp + self.explicit_fn else 0.0
        op = self.opinion_tp / self.opinion_predicted if self.opinion_predicted else 0.0
        orr = self.opinion_tp / self.opinion_gold if self.opinion_gold else 0.0
        out: dict[str, float | int] = {
            "explicit_precision": round(p, 4), "explicit_recall": round(r, 4),
            "explicit_f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "opinion_precision": round(op, 4), "opinion_recall": round(orr, 4),
            "opinion_f1": round(2 * op * orr / (op + orr), 4) if op + orr else 0.0,
        }
        for name in sorted(self.tallies):
            out[name] = self.tallies[name].value
            out[f"{name}_n"] = self.tallies[name].total
        return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _best(span: tuple[int, int], candidates: Sequence[PredictedMention]) -> PredictedMention | None:
    best = max(candidates, key=lambda m: _overlap(span, (m.start, m.end)), default=None)
    return best if best is not None and _overlap(span, (best.start, best.end)) else None


def score_document(doc: BrandDoc, catalog: Catalog, pred: Prediction, figures: BrandFigures) -> None:
    """Add one document's comparison of `pred` with the gold to `figures`."""
    ambiguous = {fold_key(n) for b in catalog.brands if b.ambiguous for n in (b.name, *(a.text for a in b.aliases))}
    t = figures.tallies
    predicted_explicit = {(m.start, m.end): m.brand for m in pred.mentions if not m.implicit and m.brand}
    gold_explicit = {(g.start, g.end): g.brand for g in doc.gold if g.kind == "explicit"}
    for span, brand in predicted_explicit.items():
        if gold_explicit.get(span) == brand:
            figures.explicit_tp += 1
        else:
            figures.explicit_fp += 1
    figures.explicit_fn += sum(1 for span, brand in gold_explicit.items() if predicted_explicit.get(span) != brand)

    links = [m for m in pred.mentions if m.implicit and m.brand]
    distant = distant_flags(doc)
    matched_links: set[PredictedMention] = set()
    for g in doc.gold:
        span = (g.start, g.end)
        if g.kind == "explicit" and fold_key(doc.text[g.start:g.end]) in ambiguous:
            t["sense_brand_accuracy"].add(predicted_explicit.get(span) == g.brand)
        elif g.kind == "non_brand":
            t["sense_non_brand_accuracy"].add(
                not any(_overlap(span, s) for s in predicted_explicit)
                and not any(_overlap(span, (m.start, m.end)) for m in links))
        elif g.kind in ("pronoun", "nominal", "first_person") and g.brand:
            link = _best(span, links)
            if link is not None:
                matched_links.add(link)
            ok = link is not None and link.brand == g.brand
            if g.kind == "first_person":
                t["first_person_accuracy"].add(ok)
                continue
            t["implicit_found"].add(link is not None)
            t["implicit_accuracy"].add(ok)
            t[f"implicit_accuracy_{g.kind}"].add(ok)
            t["implicit_accuracy_distant" if distant.get(span) else "implicit_accuracy_near"].add(ok)
    gold_implicit = [g for g in doc.gold if g.implicit and g.brand]
    for link in links:
        hit = next((g for g in gold_implicit if _overlap((g.start, g.end), (link.start, link.end))), None)
        t["implicit_precision"].add(hit is not None and hit.brand == link.brand)

    gold_judgements = [(o.start, o.end, j) for o in doc.opinions for j in o.judgements]
    figures.opinion_gold += len(gold_judgements)
    figures.opinion_predicted += len(pred.opinions)
    unused = list(gold_judgements)
    for o in pred.opinions:
        for i, (start, end, j) in enumerate(unused):
            if (_overlap((start, end), (o.start, o.end)) and j.brand == o.brand and j.aspect == o.aspect
                    and j.polarity == o.polarity):
                figures.opinion_tp += 1
                del unused[i]
                break
    _score_opinion_parts(doc, pred, t)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for _, _, j in gold_judgements:
        totals[(j.brand, j.aspect)] += _SIGN[j.polarity]
    for key, total in totals.items():
        gold_sign = (total > 0) - (total < 0)
        t["brand_aspect_agreement"].add(pred.aspect_signs.get(key, 0) == gold_sign)


def _score_opinion_parts(doc: BrandDoc, pred: Prediction, t: dict[str, Tally]) -> None:
    """Where opinion F1 is lost, stage by stage: expressions found (a predicted opinion overlaps a gold
    expression) and predicted expressions that are gold; then, for a predicted opinion on a gold expression,
    whether a gold judgement there names its brand, and for those, whether one has its polarity, its aspect."""
    spans = [(o.start, o.end) for o in doc.opinions]
    predicted = [(o.start, o.end) for o in pred.opinions]
    for span in spans:
        t["opinion_expression_recall"].add(any(_overlap(span, p) for p in predicted))
    for o in pred.opinions:
        gold = [j for g in doc.opinions if _overlap((g.start, g.end), (o.start, o.end)) for j in g.judgements]
        t["opinion_expression_precision"].add(bool(gold))
        if not gold:
            continue
        same_brand = [j for j in gold if j.brand == o.brand]
        t["opinion_brand_accuracy"].add(bool(same_brand))
        if same_brand:
            t["opinion_polarity_accuracy"].add(any(j.polarity == o.polarity for j in same_brand))
            t["opinion_aspect_accuracy"].add(any(j.aspect == o.aspect for j in same_brand))
