"""The floors every brand figure is printed beside, computed on the same gold in the same run.

- nearest: every candidate links to the brand named nearest before it (the rule a learned linker
  must beat); every catalogue match counts as the brand, ambiguous or not.
- most_frequent: every candidate links to the brand named most often so far.
- Opinions (both baselines): a sentence's lexicon polarity, attributed to the brand referred to
  nearest before its first polar word, with the aspect whose term the sentence holds (else overall).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.candidates import candidate_tables, find_candidates
from brandscan.engine.stages.mentions import aspect_lexicon, brand_lexicon, find_explicit
from brandscan.evaluation.brand_marks import OVERALL
from brandscan.evaluation.brand_scores import PredictedMention, PredictedOpinion, Prediction

# A small general-purpose polarity lexicon, written for this baseline (never tuned on the corpus).
POSITIVE_WORDS = frozenset(["good", "great", "excellent", "superb", "brilliant", "outstanding", "fantastic", "wonderful", "lovely", "nice", "impressive", "reliable", "solid", "sturdy", "comfortable", "fast", "quick", "smooth", "easy", "intuitive", "helpful", "friendly", "polite", "responsive", "generous", "cheap", "affordable", "bargain", "worth", "love", "loved", "loves", "like", "liked", "enjoy", "enjoyed", "best", "better", "perfect", "perfectly", "recommend", "recommended", "happy", "pleased", "delighted", "satisfied", "strong", "robust", "quiet", "clean", "crisp", "sharp", "bright", "accurate", "efficient", "elegant", "beautiful", "gorgeous", "premium", "durable", "dependable", "punctual", "improved", "improving", "win", "wins", "won", "beat", "beats", "praise", "praised", "favourite", "favorite", "joy", "pleasure", "painless", "seamless", "flawless"])
NEGATIVE_WORDS = frozenset(["bad", "poor", "terrible", "awful", "horrible", "dreadful", "disappointing", "disappointed", "disappointment", "useless", "broken", "broke", "faulty", "flimsy", "cheaply", "slow", "sluggish", "unreliable", "uncomfortable", "cramped", "noisy", "loud", "expensive", "overpriced", "pricey", "rip-off", "worse", "worst", "hate", "hated", "annoying", "annoyed", "frustrating", "frustrated", "confusing", "clunky", "buggy", "crash", "crashed", "crashes", "fail", "failed", "fails", "failure", "late", "delayed", "delay", "delays", "cancelled", "rude", "unhelpful", "ignored", "lost", "lose", "losing", "problem", "problems", "issue", "issues", "complaint", "complaints", "weak", "mediocre", "sloppy", "dirty", "leak", "leaked", "leaks", "stale", "bland", "miss", "missed", "misses", "decline", "declined", "fell", "drop", "dropped", "regret", "refund-less", "nightmare", "mess", "shoddy", "avoid", "warning", "struggled", "struggling"])
NEGATORS = frozenset({"not", "no", "never", "n't", "hardly", "nothing", "without", "nor", "cannot"})
_WORD = re.compile(r"[\w'’-]+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def _nearest_before(points: list[int], brands: list[str], pos: int, allowed: Sequence[str]) -> str | None:
    i = bisect_right(points, pos) - 1
    while i >= 0:
        if not allowed or brands[i] in allowed:
            return brands[i]
        i -= 1
    return None


def _most_frequent_before(points: list[int], brands: list[str], pos: int, allowed: Sequence[str]) -> str | None:
    seen = Counter(b for p, b in zip(points, brands) if p < pos and (not allowed or b in allowed))
    if not seen:
        return None
    top = max(seen.values())
    # Ties go to the brand named most recently.
    for p, b in sorted(zip(points, brands), reverse=True):
        if p < pos and seen.get(b) == top:
            return b
    return None


Rule = Callable[[list[int], list[str], int, Sequence[str]], "str | None"]
RULES: dict[str, Rule] = {"nearest": _nearest_before, "most_frequent": _most_frequent_before}


def _sentence_polarity(words: list[str]) -> tuple[int, int]:
    """(signed lexicon score, index of the first polar word or -1) with negation flipping 3 words on."""
    score, first, flip_until = 0, -1, -1
    for i, word in enumerate(words):
        if word in NEGATORS or word.endswith("n't"):
            flip_until = i + 3
            continue
        sign = 1 if word in POSITIVE_WORDS else -1 if word in NEGATIVE_WORDS else 0
        if sign:
            score += -sign if i <= flip_until else sign
            first = i if first < 0 else first
    return score, first


def lexicon_opinions(text: str, catalog: Catalog, references: list[tuple[int, str]]) -> list[PredictedOpinion]:
    """One opinion per sentence with a nonzero lexicon score, about the brand referred to last."""
    points = [p for p, _ in references]
    brands = [b for _, b in references]
    terms = [m for m in aspect_lexicon(catalog).find(text) if m.kind == "aspect"]
    opinions = []
    for sentence in _SENTENCE.finditer(text):
        words = [(w.group().lower(), w.start() + sentence.start(), w.end() + sentence.start())
                 for w in _WORD.finditer(sentence.group())]
        score, first = _sentence_polarity([w for w, _, _ in words])
        if not score:
            continue
        _, start, end = words[first]
        brand = _nearest_before(points, brands, start, ())
        if brand is None:
            continue
        aspect = next((t.key for t in terms if sentence.start() <= t.start < sentence.end()), OVERALL)
        opinions.append(PredictedOpinion(start, end, brand, aspect, "pos" if score > 0 else "neg"))
    return opinions


def baseline_prediction(text: str, catalog: Catalog, rule: str, author: str | None = None) -> Prediction:
    """What a rule predicts for one document: explicit matches, linked candidates, lexicon opinions."""
    decide = RULES[rule]
    explicit = find_explicit(text, brand_lexicon(catalog), catalog)
    points = [m.start for m in explicit]
    brands = [m.brand for m in explicit]
    mentions = [PredictedMention(m.start, m.end, m.brand, False) for m in explicit]
    references = [(m.start, m.brand) for m in explicit]
    for cand in find_candidates(text, explicit, candidate_tables(catalog), author=author):
        if cand.kind == "alias":
            continue  # an ambiguous name: the rule keeps it as the brand (above)
        brand = decide(points, brands, cand.start, cand.brands)
        mentions.append(PredictedMention(cand.start, cand.end, brand, True))
        if brand is not None:
            references.append((cand.start, brand))
    references.sort()
    opinions = lexicon_opinions(text, catalog, references)
    return Prediction(tuple(mentions), tuple(opinions), aspect_signs(opinions))


def aspect_signs(opinions: Sequence[PredictedOpinion]) -> dict[tuple[str, str], int]:
    """The per-brand, per-aspect summary of a set of opinions: the sign of their summed polarity."""
    totals: Counter = Counter()
    for o in opinions:
        totals[(o.brand, o.aspect)] += {"pos": 1, "neg": -1}.get(o.polarity, 0)
    return {key: (value > 0) - (value < 0) for key, value in totals.items()}
