"""Opinions about every brand reference linking accepted, from the document pass's final states.

1. expressions: the opinion head tags word pieces O/B/I; a run is one evaluative expression, widened
   to whole words (negators and intensifiers are inside the runs the head was trained on);
2. who is judged: every accepted reference (explicit, product, handle, linked pronoun or nominal,
   first person) in the expression's sentence or the `window` sentences before it is scored by the
   attach part; every brand at or above `attach_threshold` is judged, else the likeliest brand if
   at least `fallback_threshold`, else nobody (no opinion);
3. polarity of the expression towards that reference (so "beats" is positive for one brand and
   negative for the other), score p(positive) - p(negative);
4. aspect: a catalogue aspect by its terms and by meaning, else `overall`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from brandscan.engine import report as report_types
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stable import DECIMALS, ranked, rounded, single_thread
from brandscan.engine.stages.sentiment.aspects import OVERALL, AspectTable, term_hits
from brandscan.engine.stages.sentiment.features import (
    Reference,
    TermHit,
    aspect_features,
    candidates,
    pair_features,
    reference_sentences,
)
from brandscan.engine.stages.sentiment.layout import TokenLayout, token_layout
from brandscan.engine.stages.sentiment.opinion_head import OpinionHead, OpinionHeadConfig
from brandscan.engine.stages.sentiment.pooling import STATE_BLOCK, pool
from brandscan.engine.stages.sentiment.word_bags import word_bags
from brandscan.engine.text.passages import TokenizedDocument
from brandscan.engine.text.words import OPINION_STOPWORDS, WORD


@dataclass(frozen=True)
class Expression:
    """An evaluative expression: positions [first, last) and characters [start, end)."""

    first: int
    last: int
    start: int
    end: int


def decode_expressions(tag_ids: np.ndarray, layout: TokenLayout, text: str) -> list[Expression]:
    """Runs of B I* (an I after O opens a run) of real word pieces inside one sentence, widened to
    whole words; runs of function words, digits or punctuation alone are dropped."""
    runs: list[list[int]] = []
    for i in np.flatnonzero((tag_ids > 0) & layout.real).tolist():
        continues = (runs and runs[-1][1] == i and tag_ids[i] == 2
                     and layout.sentence[i] == layout.sentence[runs[-1][0]])
        if continues:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    out = []
    for first, last in runs:
        start, end = _whole_words(text, int(layout.starts[first]), int(layout.ends[last - 1]))
        words = [w.group().lower().replace("’", "'") for w in WORD.finditer(text, start, end)]
        # A run says something only with a word of letters beyond function words ("'", "02" say nothing).
        if any(w not in OPINION_STOPWORDS and any(c.isalpha() for c in w) for w in words):
            out.append(Expression(first, last, start, end))
    return out


def inside_tags(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """(n,) tag ids from (n, 3) O/B/I probabilities: O unless 1 - p(O) reaches `threshold`, then the
    likelier of B and I (ties to B)."""
    inside = 1.0 - probabilities[:, 0] >= threshold  # (n,)
    return np.where(inside, np.where(probabilities[:, 2] > probabilities[:, 1], 2, 1), 0)


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


def references_of(mentions: Sequence[report_types.Mention], tokens: TokenizedDocument) -> list[Reference]:
    """The branded mentions as word-piece references, sorted by position."""
    out = []
    for m in mentions:
        if m.brand is None:
            continue
        try:
            first, last = tokens.token_span(m.start, m.end)
        except ValueError:
            continue
        out.append(Reference(first, last, m.brand, m.kind, m.id))
    return sorted(out, key=lambda r: (r.first, r.last))


@dataclass(frozen=True)
class Judged:
    """One (expression, reference) decision before it becomes a report Opinion."""

    expression: Expression
    reference: Reference
    attach: float
    probabilities: tuple[float, float, float]  # HEAD_LABELS order
    aspect: int  # 0 = overall, k = table aspect k - 1


def judge(tokens: TokenizedDocument, layout: TokenLayout, states: torch.Tensor, references: Sequence[Reference],
          table: AspectTable, hits: Sequence[TermHit], head: OpinionHead, config: OpinionHeadConfig) -> list[Judged]:
    """Every (expression, judged reference) of a document, in document order; `states` (n, d) are
    the document pass's final states, `hits` its aspect terms (term_hits)."""
    with torch.inference_mode(), single_thread():
        tag_ids = inside_tags(rounded(tag_probabilities(head, states, tokens.input_ids)), config.inside_threshold)  # (n,)
        expressions = decode_expressions(tag_ids, layout, tokens.text)
        if not expressions or not references:
            return []
        pooled = pool(states, layout, [(e.first, e.last) for e in expressions], [(r.first, r.last) for r in references])
        pairs, feats = [], []
        sentences = reference_sentences(layout, references)
        for k, e in enumerate(expressions):
            chosen = candidates(layout, (e.first, e.last), sentences, config.window)
            if chosen:
                pairs += [(k, i) for i in chosen]
                feats.append(pair_features(layout, (e.first, e.last), references, chosen, sentences))
        if not pairs:
            return []
        ek = torch.tensor([k for k, _ in pairs])
        ri = torch.tensor([i for _, i in pairs])
        attach = torch.sigmoid(head.attach(pooled.expression[ek], pooled.reference[ri],
                                           torch.from_numpy(np.concatenate(feats)))).numpy()
        chosen_pairs = _decide(pairs, rounded(attach), references, config)
        if not chosen_pairs:
            return []
        ck = torch.tensor([pairs[p][0] for p in chosen_pairs])
        cr = torch.tensor([pairs[p][1] for p in chosen_pairs])
        used = sorted({int(k) for k in ck})
        words = head.word_vectors(word_bags(tokens.input_ids, layout, [(expressions[k].first, expressions[k].last)
                                                                      for k in used])) if head.config_words else None
        row = {k: j for j, k in enumerate(used)}
        pair_words = None if words is None else words[torch.tensor([row[int(k)] for k in ck])]
        probs = head.polarity(pooled.expression[ck], pooled.reference[cr], pooled.sentence[ck],
                              pair_words).softmax(-1).numpy()
        by_sentence: dict[int, list[TermHit]] = {}
        for hit in hits:
            by_sentence.setdefault(int(layout.sentence[hit.first]), []).append(hit)

        def near(k: int) -> list[TermHit]:  # aspect_features reads the expression's sentence and the one before
            s = int(layout.sentence[expressions[k].first])
            return by_sentence.get(s - 1, []) + by_sentence.get(s, [])

        lex = torch.from_numpy(np.stack([aspect_features(layout, (expressions[k].first, expressions[k].last), near(k),
                                                         len(table.ids)) for k in used]))
        aspect_logits = head.aspect(pooled.context[used], table.keys, lex, words).numpy()
    aspect_of = {k: int(ranked(aspect_logits[j])[0]) for j, k in enumerate(used)}
    out = []
    for j, p in enumerate(chosen_pairs):
        k, i = pairs[p]
        pr = rounded(probs[j])
        out.append(Judged(expressions[k], references[i], float(rounded(attach[p])), (float(pr[0]), float(pr[1]),
                          float(pr[2])), aspect_of[k]))
    return out


def tag_probabilities(head: OpinionHead, states: torch.Tensor, input_ids: np.ndarray) -> np.ndarray:
    """(n, 3) O/B/I probabilities of every word piece, STATE_BLOCK positions at a time with the
    convolution's reach of context either side: a long document's states are never copied whole."""
    n = states.shape[0]
    reach = head.tag_conv.kernel_size[0] // 2
    ids = torch.from_numpy(input_ids.astype(np.int64))
    parts = []
    for at in range(0, n, STATE_BLOCK):
        lo, hi = max(0, at - reach), min(n, at + STATE_BLOCK + reach)
        logits = head.tag(states[lo:hi].float(), ids[lo:hi])  # (hi - lo, 3)
        parts.append(logits[at - lo:at - lo + min(STATE_BLOCK, n - at)].softmax(-1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.float32)


def _decide(pairs: list[tuple[int, int]], attach: np.ndarray, references: Sequence[Reference],
            config: OpinionHeadConfig) -> list[int]:
    """Indexes into `pairs`: per expression, the best reference of every judged brand."""
    best: dict[int, dict[str, int]] = {}
    for p, (k, i) in enumerate(pairs):
        by_brand = best.setdefault(k, {})
        brand = references[i].brand
        if brand not in by_brand or attach[p] > attach[by_brand[brand]]:
            by_brand[brand] = p
    out = []
    for _, by_brand in sorted(best.items()):
        kept = [p for p in by_brand.values() if attach[p] >= config.attach_threshold]
        if not kept:
            top = max(by_brand.values(), key=lambda p: (attach[p], -p))
            kept = [top] if attach[top] >= config.fallback_threshold else []
        out += sorted(kept)
    return out


def find_opinions(tokens: TokenizedDocument, states: torch.Tensor, mentions: Sequence[report_types.Mention],
                  table: AspectTable, head: OpinionHead, config: OpinionHeadConfig) -> tuple[report_types.Opinion, ...]:
    """The report's opinions, in document order, ids "o1", "o2", ... (`states`: see judge)."""
    text = tokens.text
    layout = token_layout(tokens)
    hits = term_hits(tokens, table)  # read by judge's aspect features and by the reported aspect spans
    judged = judge(tokens, layout, states, references_of(mentions, tokens), table, hits, head, config)
    terms = _terms_by_sentence(layout, hits if judged else [])
    opinions = []
    for j in judged:
        e, r = j.expression, j.reference
        p = j.probabilities
        label = HEAD_LABELS[int(ranked(np.asarray(p))[0])]
        aspect = OVERALL if j.aspect == 0 else table.ids[j.aspect - 1]
        opinions.append(report_types.Opinion(
            id=f"o{len(opinions) + 1}",
            brand=r.brand,
            aspect=aspect,
            aspect_name=table.name_of(aspect),
            polarity=label,
            score=round(p[2] - p[0], DECIMALS),
            aspect_span=_term_span(tokens, layout, terms, j.aspect - 1, e) if j.aspect else None,
            opinion_spans=(report_types.Span(e.start, e.end, text[e.start:e.end]),),
            mention=r.mention,
            evidence=(report_types.WeightedSpan(*_chars(tokens, r), j.attach),),
        ))
    return tuple(opinions)


def _chars(tokens: TokenizedDocument, r: Reference) -> tuple[int, int, str]:
    start, end = int(tokens.offsets[r.first, 0]), int(tokens.offsets[r.last - 1, 1])
    return start, end, tokens.text[start:end]


def _terms_by_sentence(layout: TokenLayout, hits: Sequence[TermHit]) -> dict[tuple[int, int], list[TermHit]]:
    """The document's aspect terms by (aspect, sentence), in document order: each expression reads its own
    sentence's terms instead of every term of the document (quadratic in a long review)."""
    out: dict[tuple[int, int], list[TermHit]] = {}
    for h in hits:
        out.setdefault((h.aspect, int(layout.sentence[h.first])), []).append(h)
    return out


def _term_span(tokens: TokenizedDocument, layout: TokenLayout, terms: dict[tuple[int, int], list[TermHit]],
               aspect: int, e: Expression) -> report_types.Span | None:
    """The aspect's term nearest the expression within its sentence, if the sentence holds one."""
    near = terms.get((aspect, int(layout.sentence[e.first])), [])
    if not near:
        return None
    h = min(near, key=lambda h: (abs(h.first - e.first), h.first))
    start, end = int(tokens.offsets[h.first, 0]), int(tokens.offsets[h.last - 1, 1])
    return report_types.Span(start, end, tokens.text[start:end])
