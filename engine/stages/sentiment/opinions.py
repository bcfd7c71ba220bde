"""Aspect opinions in a document, attributed to brands, and their per-brand summary.

Steps, all linear in the document length except the model calls:
1. aspect terms: the catalogue's aspect lexicon (the same matcher as brand names) over the text;
2. polarity: the sentiment model (`sentiment_head.SentimentScorer`) over only the sentences that hold
   an aspect term, each sentence encoded once however many terms it holds;
3. opinion words: the word pieces the head's term-to-sentence attention weighted most, widened to
   whole words and to a negator just before them ("not bad", "never again");
4. brand: a mention with a brand (explicit, or linked like "it") in the same clause, else in the
   same sentence (nearest wins), else the latest one earlier in the same passage within
   `lookback_sentences`, else no brand.
"""
from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from brandscan.engine import report as report_types
from brandscan.engine.stages.sentiment.head import AspectQuery, Scored
from brandscan.engine.text.lexicon import Lexicon
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import CLAUSE_BREAK, NEGATORS, OPINION_STOPWORDS, SENTENCE_OR_LINE_END, WORD


class Scorer(Protocol):
    def score(self, queries: Sequence[AspectQuery]) -> list[Scored]: ...


@dataclass(frozen=True)
class SentimentOptions:
    lookback_sentences: int = 2  # how far back (same passage) a brand mention may be found
    opinion_spans: int = 3  # opinion-word spans kept per opinion, strongest first
    min_weight: float = 0.05  # head attention a word needs to count as opinion evidence
    # False: aspect terms that no brand mention can claim are not scored (nor reported), which
    # saves their sentences' encoding when only per-brand figures matter.
    unattributed: bool = True


@dataclass(frozen=True)
class Segment:
    start: int
    end: int


def sentence_segments(text: str, start: int = 0, end: int | None = None) -> list[Segment]:
    """Sentences of text[start:end], trimmed of surrounding whitespace; offsets into `text`."""
    end = len(text) if end is None else end
    cuts = [start] + [m.end() for m in SENTENCE_OR_LINE_END.finditer(text, start, end)] + [end]
    out = []
    for a, b in itertools.pairwise(cuts):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append(Segment(a, b))
    return out


def clause_of(text: str, sentence: Segment, position: int) -> Segment:
    """The clause of `sentence` holding character `position`."""
    start, end = sentence.start, sentence.end
    for m in CLAUSE_BREAK.finditer(text, sentence.start, sentence.end):
        if m.end() <= position:
            start = max(start, m.end())
        elif m.start() >= position:
            end = min(end, m.start())
            break
    return Segment(start, end)


def _opinion_words(text: str, sentence: Segment, scored: Scored, term: Segment, options: SentimentOptions,
                   names: Sequence[report_types.Mention] = ()) -> tuple[report_types.Span, ...]:
    # Word-piece weights -> whole words (max over their pieces), skipping the term and stop words.
    words: dict[tuple[int, int], float] = {}
    for s, e, weight in scored.context:
        a, b = sentence.start + s, sentence.start + e
        if weight < options.min_weight or (a < term.end and b > term.start):
            continue
        while a > sentence.start and (text[a - 1].isalnum() or text[a - 1] in "'’-"):
            a -= 1
        while b < sentence.end and (text[b].isalnum() or text[b] in "'’-"):
            b += 1
        while a < b and not text[a].isalnum():  # a punctuation piece widened into "weeks,"
            a += 1
        while b > a and not text[b - 1].isalnum():
            b -= 1
        word = text[a:b]
        overlaps_term = a < term.end and b > term.start  # after widening, e.g. "Comfortable,"
        # A brand's name is who the opinion is about, never what it says.
        is_name = any(a < m.end and b > m.start for m in names)
        plain = word.lower().replace("’", "'")
        if overlaps_term or is_name or not any(c.isalnum() for c in word) or plain in OPINION_STOPWORDS:
            continue
        words[(a, b)] = max(words.get((a, b), 0.0), weight)
    best = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[: options.opinion_spans]
    spans = []
    for (a, b), _ in sorted(best):
        # A negator right before the word belongs to the opinion: "not bad", "never again".
        before = list(WORD.finditer(text, sentence.start, a))
        negated = before and before[-1].group().lower().replace("’", "'") in NEGATORS
        if negated and not text[before[-1].end() : a].strip():
            a = before[-1].start()
        spans.append(report_types.Span(a, b, text[a:b]))
    return tuple(_merge(spans, text))


def _merge(spans: list[report_types.Span], text: str) -> list[report_types.Span]:
    out: list[report_types.Span] = []
    for span in spans:
        if out and span.start <= out[-1].end:
            last = out.pop()
            span = report_types.Span(last.start, max(last.end, span.end), text[last.start : max(last.end, span.end)])
        out.append(span)
    return out


def _within(mentions: Sequence[report_types.Mention], starts: list[int], seg: Segment) -> list[report_types.Mention]:
    """Mentions lying wholly inside `seg`; `starts` are the mentions' sorted start offsets."""
    lo = bisect.bisect_left(starts, seg.start)
    hi = bisect.bisect_left(starts, seg.end)
    return [m for m in mentions[lo:hi] if m.end <= seg.end]


def _attribute(aspect: Segment, clause: Segment, sentence: Segment, earlier: Sequence[Segment],
               mentions: Sequence[report_types.Mention], starts: list[int]) -> report_types.Mention | None:
    def distance(m: report_types.Mention) -> tuple[int, int]:
        # Nearest first; at equal distance the mention before the term ("Acme's battery") wins.
        gap = aspect.start - m.end if m.end <= aspect.start else m.start - aspect.end
        return (max(gap, 0), 0 if m.end <= aspect.start else 1)

    for seg in (clause, sentence):
        found = _within(mentions, starts, seg)
        if found:
            return min(found, key=distance)
    for seg in reversed(earlier):  # the latest sentence first
        found = _within(mentions, starts, seg)
        if found:
            return found[-1]
    return None


def find_opinions(
    doc: TokenizedDocument,
    mentions: Sequence[report_types.Mention],
    lexicon: Lexicon,
    scorer: Scorer,
    options: SentimentOptions = SentimentOptions(),
) -> tuple[report_types.Opinion, ...]:
    """Opinions on every aspect term of `doc`, in document order, ids "o1", "o2", ...

    `lexicon` is `mentions.aspect_lexicon(catalog)`; `mentions` are the report's mentions (explicit
    and linked); those without a brand are ignored."""
    text = doc.text
    terms = [m for m in lexicon.find(text) if m.kind == "aspect"]
    if not terms:
        return ()
    branded = sorted((m for m in mentions if m.brand is not None), key=lambda m: (m.start, m.end))
    starts = [m.start for m in branded]
    passages = [(p.start, p.end) for p in doc.passages] or [(0, len(text))]
    passage_starts = [p[0] for p in passages]

    # Sentences are cut only inside passages that hold an aspect term: linear, and cheap.
    sentences_of: dict[int, list[Segment]] = {}
    located = []
    for term in terms:
        p = max(0, bisect.bisect_right(passage_starts, term.start) - 1)
        if p not in sentences_of:
            sentences_of[p] = sentence_segments(text, *passages[p])
        sentences = sentences_of[p]
        k = max(0, bisect.bisect_right([s.start for s in sentences], term.start) - 1)
        located.append((term, sentences, k))

    # Brand decisions come first: they do not depend on polarity, and may spare model work.
    decisions = []
    for term, sentences, k in located:
        clause = clause_of(text, sentences[k], term.start)
        earlier = sentences[max(0, k - options.lookback_sentences) : k]
        decisions.append(_attribute(Segment(term.start, term.end), clause, sentences[k], earlier, branded, starts))
    if not options.unattributed:
        kept = [i for i, d in enumerate(decisions) if d is not None]
        located, decisions = [located[i] for i in kept], [decisions[i] for i in kept]

    queries = [AspectQuery(text[s[k].start : s[k].end], t.start - s[k].start, t.end - s[k].start)
               for t, s, k in located]
    scores = scorer.score(queries)

    opinions = []
    for (term, sentences, k), mention, scored in zip(located, decisions, scores):
        sentence = sentences[k]
        aspect = Segment(term.start, term.end)
        evidence = ()
        if mention is not None:
            evidence = (report_types.WeightedSpan(mention.start, mention.end, mention.text, 1.0),)
        opinions.append(report_types.Opinion(
            id=f"o{len(opinions) + 1}",
            brand=mention.brand if mention is not None else None,
            aspect=term.key,
            polarity=scored.polarity,  # type: ignore[arg-type]  # one of POLARITIES
            score=scored.score,
            aspect_span=report_types.Span(term.start, term.end, text[term.start : term.end]),
            # A neutral term is one the sentence passes no judgement on: no opinion words to show.
            opinion_spans=() if scored.polarity == "neutral" else _opinion_words(
                text, sentence, scored, aspect, options, _within(branded, starts, sentence)),
            mention=mention.id if mention is not None else None,
            evidence=evidence,
        ))
    return tuple(opinions)


def summarize_sentiment(
    opinions: Sequence[report_types.Opinion], text: str
) -> dict[str, tuple[tuple[report_types.AspectSentiment, ...], float]]:
    """Per brand: one AspectSentiment per aspect (sorted by aspect id) and the net sentiment, the mean
    score of all the brand's opinions. Opinions without a brand are left out."""
    by_brand: dict[str, dict[str, list[report_types.Opinion]]] = {}
    for o in opinions:
        if o.brand is not None:
            by_brand.setdefault(o.brand, {}).setdefault(o.aspect, []).append(o)
    out = {}
    for brand, aspects in sorted(by_brand.items()):
        rows = []
        for aspect, group in sorted(aspects.items()):
            positives = [o for o in group if o.polarity == "positive"]
            negatives = [o for o in group if o.polarity == "negative"]
            rows.append(report_types.AspectSentiment(
                aspect=aspect,
                positive=len(positives),
                negative=len(negatives),
                neutral=len(group) - len(positives) - len(negatives),
                mean_score=sum(o.score for o in group) / len(group),
                strongest_positive=_covering(max(positives, key=lambda o: o.score), text) if positives else None,
                strongest_negative=_covering(min(negatives, key=lambda o: o.score), text) if negatives else None,
            ))
        scores = [o.score for group in aspects.values() for o in group]
        out[brand] = (tuple(rows), sum(scores) / len(scores))
    return out


# Opinion words further than this from their term are left out of the summary's evidence span,
# so that it stays a readable phrase rather than most of a long sentence.
EVIDENCE_REACH = 60


def _covering(opinion: report_types.Opinion, text: str) -> report_types.Span:
    """The aspect term and its nearby opinion words as one span ("battery life is superb")."""
    term = opinion.aspect_span
    near = [s for s in opinion.opinion_spans
            if max(s.start - term.end, term.start - s.end) <= EVIDENCE_REACH]
    spans = [term, *near]
    start, end = min(s.start for s in spans), max(s.end for s in spans)
    return report_types.Span(start, end, text[start:end])
