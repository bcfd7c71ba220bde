"""Training the linking head (ranking, "none" and sense) on the states of a frozen adapted encoder.

The encoder with the shipped linking adapter runs once per training document, exactly as analysis runs
it (stages/encode.front_half, the engine's own candidates and queries, decide.link_queries), and each
document's head inputs are kept. The head then trains for many epochs on those inputs in seconds:
on 2 CPU cores an encoder step per document per epoch would take hours, a head epoch takes under one.

Labels come from the brand corpus's gold: a candidate overlapping an implicit mark of a brand is a
query of that brand, any other candidate a query of "none"; an ambiguous name overlapping an explicit
mark is the brand sense, one overlapping a `[[x|-]]` mark the other sense. GAP rows (pronoun, two
named people) keep the head's fiction-free coreference skill. Nothing from a dev split is read here.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from brandscan.engine.catalog import Catalog
from brandscan.engine.model.encoder import Encoder
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.encode import FrontHalf, encoder_pass, front_half
from brandscan.engine.stages.linking.decide import Entities, anchors_by_brand, brand_profiles, link_queries
from brandscan.engine.stages.linking.features import build_features
from brandscan.engine.stages.linking.head import (
    SENSE_FEATURES,
    AnyHead,
    HeadEnsemble,
    LinkingHead,
    LinkingHeadConfig,
    initial_positions,
    sentence_initial,
)
from brandscan.engine.stages.linking.profiles import BrandProfiles
from brandscan.engine.stages.linking.sense import name_profiles, sense_inputs
from brandscan.engine.stages.mentions import brand_lexicon
from brandscan.evaluation.brand_marks import BrandDoc
from brandscan.evaluation.linking_items import Prepared
from brandscan.training.held_out import split_by_name

# Tokens either side of an ambiguous name whose mean state the sense module reads besides the name's.
SENSE_CONTEXT = 4
SKIP = -100  # cross-entropy's ignore_index: a query whose gold brand is not among its ranked brands


@dataclass(frozen=True, eq=False)
class HeadExamples:
    """One document's head inputs and labels (tensors on the CPU, float32)."""

    source: str
    qvec: Tensor  # (Q, d)
    evec: Tensor  # (Q, E, d)
    feats: Tensor  # (Q, E, F)
    mask: Tensor  # (Q, E) bool
    kind: Tensor  # (Q, K+2)
    labels: Tensor  # (Q,) long: 0 none, 1 + position of the gold brand, SKIP
    sense_vec: Tensor  # (S, d)
    sense_feats: Tensor  # (S, k)
    sense_labels: Tensor  # (S,) float: 1 brand sense, 0 other sense


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _best_gold(span: tuple[int, int], gold: Sequence[tuple[int, int, str | None]]) -> tuple[int, int, str | None] | None:
    best = max(gold, key=lambda g: _overlap(span, (g[0], g[1])), default=None)
    return best if best is not None and _overlap(span, (best[0], best[1])) else None


def sense_gold(doc: BrandDoc) -> list[tuple[int, int, str | None]]:
    """The marks an ambiguous name's sense is read from: explicit brand marks and `[[x|-]]` marks."""
    return [(g.start, g.end, g.brand) for g in doc.gold if g.kind in ("explicit", "non_brand")]


def sense_label(c: Candidate, gold: Sequence[tuple[int, int, str | None]]) -> int:
    """1 where the mark overlapping the name most is its own brand, 0 another sense, -1 unmarked."""
    g = _best_gold((c.start, c.end), gold)
    return -1 if g is None else int(g[2] is not None and g[2] == c.brands[0])


def brand_examples(doc: BrandDoc, catalog: Catalog, tokenizer, encoder: Encoder, window: int,  # type: ignore[no-untyped-def]
                   budget: int, source: str = "brands", profiles: BrandProfiles | None = None,
                   none_context: int = 0, sense_profile: bool = False) -> HeadExamples | None:
    """The head inputs of one annotated brand document, through the analysis front half; `profiles`
    (read through `encoder`) gives the profile_cosine feature, as the Linker's does in analysis;
    `none_context` and `sense_profile` as LinkingHeadConfig's."""
    setup = FrontHalf(catalog, brand_lexicon(catalog), tokenizer, author=doc.author)
    state = front_half(doc.text, setup, encoder, window=window, budget=budget)
    states = state.encoded.states
    if states is None:
        return None
    tokens = state.tokens
    aliases = [c for c in state.candidates if c.kind == "alias"]
    explicit_gold = sense_gold(doc)
    sense = [sense_label(c, explicit_gold) for c in aliases]
    implicit_gold = [(g.start, g.end, g.brand) for g in doc.gold if g.implicit]
    entities = Entities.of(tokens, anchors_by_brand(state.explicit, aliases, [s == 1 for s in sense]))
    queries, candidates = link_queries(tokens, state.candidates, entities, catalog)
    labels = []
    for q, c in zip(queries, candidates):
        g = _best_gold((c.start, c.end), implicit_gold)
        if g is None or g[2] is None:
            labels.append(0)
        elif g[2] in entities.brands and entities.brands.index(g[2]) in q.entities:
            labels.append(1 + q.entities.index(entities.brands.index(g[2])))
        else:
            labels.append(SKIP)
    with torch.no_grad():
        vec, sfeats = sense_inputs(states.last_hidden, tokens, state.explicit, aliases, SENSE_CONTEXT,
                                   name_profiles(profiles, catalog, aliases) if sense_profile else None)
        keep = [i for i, s in enumerate(sense) if s >= 0]
        if queries:
            rows = torch.tensor(sorted({p for q in queries for p in range(q.tok_start, q.tok_end)}), dtype=torch.long)
            globals_t = torch.as_tensor(state.encoded.global_positions, dtype=torch.long)
            top = states.layers[-1].row_attention(states.layer_inputs[-1], rows, globals_t, states.window)
            initial = sentence_initial(tokens, initial_positions(queries, entities.specs))
            vectors = brand_profiles(profiles, catalog, entities)
            qvec, evec, feats, mask, kind = build_features(states.last_hidden, top, tokens.passage_of, queries,
                                                           entities.specs, states.window, initial, torch.float32,
                                                           vectors, none_context)
        else:
            qvec, evec, feats, mask, kind = _empty_queries(states.last_hidden.shape[1], none_context)
    return HeadExamples(source, qvec, evec, feats, mask, kind, torch.tensor(labels, dtype=torch.long),
                        vec[keep], sfeats[keep], torch.tensor([float(sense[i]) for i in keep]))


def prepared_examples(item: Prepared, encoder: Encoder, window: int, source: str, none_context: int = 0) -> HeadExamples:
    """The head inputs of a prepared coreference item (GAP): named people are the entities."""
    with torch.no_grad():
        tokens = item.tokens
        states = encoder_pass(encoder, tokens, item.global_positions, window, keep_layers=1)
        rows = torch.tensor(sorted({p for q in item.queries for p in range(q.tok_start, q.tok_end)}))
        gpos = torch.from_numpy(item.global_positions)
        att = states.layers[-1].row_attention(states.layer_inputs[-1], rows, gpos, window)
        qvec, evec, feats, mask, kind = build_features(states.last_hidden, att, tokens.passage_of, item.queries,
                                                       item.entities, window, item.initial, torch.float32,
                                                       none_context=none_context)
    d = qvec.shape[1]
    return HeadExamples(source, qvec, evec, feats, mask, kind, torch.tensor(item.labels, dtype=torch.long),
                        qvec.new_zeros(0, d), qvec.new_zeros(0, 0), qvec.new_zeros(0))


def without_anchor_vectors(examples: HeadExamples) -> HeadExamples:
    """The examples without their anchor vectors, which the head trains without (LinkingHeadConfig.entity_vectors
    is off): that (Q, E, d) tensor is most of an example's memory, 11 GB for the 460,000 queries of the corpus
    with three spread forms per document, so it is let go as each example is read."""
    Q, E, _ = examples.evec.shape
    return replace(examples, evec=examples.evec.new_zeros(Q, E, 0))


def _empty_queries(d: int, none_context: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    from brandscan.engine.stages.linking.head import FEATURES, KINDS

    return (torch.zeros(0, d), torch.zeros(0, 1, d), torch.zeros(0, 1, len(FEATURES)),
            torch.zeros(0, 1, dtype=torch.bool), torch.zeros(0, len(KINDS) + 2 + (d if none_context else 0)))


@dataclass(frozen=True, eq=False)
class Batchable:
    """Every document's queries padded to one entity width, concatenated (and the sense items)."""

    qvec: Tensor
    evec: Tensor
    feats: Tensor
    mask: Tensor
    kind: Tensor
    labels: Tensor
    sense_vec: Tensor
    sense_feats: Tensor
    sense_labels: Tensor

    @classmethod
    def of(cls, examples: Sequence[HeadExamples], width: int) -> Batchable:
        def pad(t: Tensor, value: float = 0.0) -> Tensor:
            extra = width - t.shape[1]
            if extra <= 0:
                return t[:, :width]
            shape = (t.shape[0], extra, *t.shape[2:])
            return torch.cat([t, t.new_full(shape, value)], dim=1)

        parts = [e for e in examples if len(e.labels)]
        sense = [e for e in examples if len(e.sense_labels)]
        k = sense[0].sense_feats.shape[1] if sense else 0
        d = examples[0].qvec.shape[1]
        return cls(
            torch.cat([e.qvec for e in parts]), torch.cat([pad(e.evec) for e in parts]),
            torch.cat([pad(e.feats) for e in parts]), torch.cat([pad(e.mask, False) for e in parts]),
            torch.cat([e.kind for e in parts]), torch.cat([e.labels for e in parts]),
            torch.cat([e.sense_vec for e in sense]) if sense else torch.zeros(0, d),
            torch.cat([e.sense_feats for e in sense]) if sense else torch.zeros(0, k),
            torch.cat([e.sense_labels for e in sense]) if sense else torch.zeros(0),
        )


@dataclass(frozen=True)
class HeadTrainConfig:
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch: int = 256
    seed: int = 0
    width: int = 16  # entities per query (decide.MAX_ENTITIES)
    pair_width: int = 64  # the head's MLP width (LinkingHeadConfig.width); 64 and dropout 0.3 held out better than 128 / 0.1
    dropout: float = 0.3
    # Weight of a brand use of an ambiguous name that opens a sentence in the sense loss (1: like any other).
    # 2.2 makes a sentence's start say nothing of the sense in the train split (it opens 32% of the other
    # uses and 18% of the brand uses; odds 0.46 against 0.21): docs/linking.md.
    sense_initial_weight: float = 1.0
    # Tokens either side of a query whose mean state the "no brand" module reads (LinkingHeadConfig.none_context).
    none_context: int = 0
    sense_profile: bool = False  # LinkingHeadConfig.sense_profile


def sense_weights(labels: Tensor, feats: Tensor, initial_weight: float) -> Tensor:
    """(S,) loss weights of sense examples: `initial_weight` for a brand use that opens a sentence, else 1."""
    initial = feats[:, SENSE_FEATURES.index("sentence_initial")]  # (S,) 0 or 1
    return 1.0 + (initial_weight - 1.0) * labels * initial


def _batches(n: int, size: int, rng: random.Random) -> Iterator[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    for i in range(0, n, size):
        yield order[i:i + size]


def head_accuracy(head: AnyHead, data: Batchable) -> dict[str, float]:
    """Ranking accuracy over labelled queries (none included), brand-query accuracy, sense accuracy."""
    head.eval()
    with torch.no_grad():
        logits = head(data.qvec, data.evec, data.feats, data.mask, data.kind)
        choice = logits.argmax(dim=-1)
        known = data.labels != SKIP
        brand = known & (data.labels > 0)
        out = {"queries": float((choice[known] == data.labels[known]).float().mean()) if known.any() else 0.0,
               "brand_queries": float((choice[brand] == data.labels[brand]).float().mean()) if brand.any() else 0.0}
        if len(data.sense_labels):
            p = torch.sigmoid(head.sense_logits(data.sense_vec, data.sense_feats))
            out["sense"] = float(((p >= 0.5).float() == data.sense_labels).float().mean())
    return out


def fit_head(train: Batchable, held_out: Batchable | None, config: HeadTrainConfig, hidden: int,
             log: Callable[[str], None] = print) -> tuple[LinkingHead, list[dict[str, float]]]:
    """Train a new head on `train`; keep the epoch whose held-out query + sense accuracy is best."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    head = LinkingHead(LinkingHeadConfig(hidden=hidden, width=config.pair_width, dropout=config.dropout,
                                         sense_context=SENSE_CONTEXT, none_context=config.none_context,
                                         sense_profile=config.sense_profile))
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n, s = len(train.labels), len(train.sense_labels)
    sense_batch = max(1, config.batch * s // max(n, 1))
    history: list[dict[str, float]] = []
    best, best_state = -1.0, None
    started = time.perf_counter()
    for epoch in range(config.epochs):
        head.train()
        total = 0.0
        sense_order = list(range(s))
        rng.shuffle(sense_order)
        for step, idx in enumerate(_batches(n, config.batch, rng)):
            ix = torch.tensor(idx)
            logits = head(train.qvec[ix], train.evec[ix], train.feats[ix], train.mask[ix], train.kind[ix])
            loss = torch.nn.functional.cross_entropy(logits, train.labels[ix], ignore_index=SKIP)
            if s:
                sx = torch.tensor(sense_order[(step * sense_batch) % s:][:sense_batch] or sense_order[:sense_batch])
                sense_logits = head.sense_logits(train.sense_vec[sx], train.sense_feats[sx])
                labels = train.sense_labels[sx]
                weight = sense_weights(labels, train.sense_feats[sx], config.sense_initial_weight)
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(sense_logits, labels, weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        figures = {"epoch": epoch, "loss": round(total / max(1, (n + config.batch - 1) // config.batch), 4)}
        if held_out is not None:
            figures.update({f"held_out_{k}": round(v, 4) for k, v in head_accuracy(head, held_out).items()})
            score = figures["held_out_queries"] + figures.get("held_out_sense", 0.0)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in head.state_dict().items()}
        history.append(figures)
        log(f"{figures} ({time.perf_counter() - started:.0f}s)")
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return head, history


def fit_members(train: Batchable, held_out: Batchable | None, config: HeadTrainConfig, hidden: int, members: int,
                log: Callable[[str], None] = print) -> tuple[AnyHead, list[list[dict[str, float]]]]:
    """`members` heads fit alike with seeds config.seed, config.seed + 1, ...; one head is returned as
    itself, several as a HeadEnsemble (not yet calibrated: calibrate() sets its shifts)."""
    heads, histories = [], []
    for i in range(members):
        if members > 1:
            log(f"member {i + 1} of {members}, seed {config.seed + i}")
        head, history = fit_head(train, held_out, replace(config, seed=config.seed + i), hidden, log)
        heads.append(head)
        histories.append(history)
    return (heads[0] if members == 1 else HeadEnsemble(heads).eval()), histories


def calibrate(head: AnyHead, held_out: Batchable, log: Callable[[str], None] = print) -> dict[str, float]:
    """Set the head's none_shift (best link F1 on held-out brand queries: links right / links made and
    / brand queries) and sense_shift (best mean of brand-sense and other-sense accuracy)."""
    grid = [x / 4 for x in range(-16, 17)]
    head.eval()
    out: dict[str, float] = {}
    with torch.no_grad():
        head.none_shift.zero_()
        logits = head(held_out.qvec, held_out.evec, held_out.feats, held_out.mask, held_out.kind)
        brand = held_out.labels > 0

        def link_f1(shift: float) -> float:
            shifted = logits.clone()
            shifted[:, 0] += shift
            choice = shifted.argmax(dim=-1)
            right = ((choice == held_out.labels) & (choice > 0)).sum().item()
            made, wanted = (choice > 0).sum().item(), brand.sum().item()
            p, r = right / max(made, 1), right / max(wanted, 1)
            return 2 * p * r / (p + r) if p + r else 0.0

        scores = {shift: link_f1(shift) for shift in grid}
        best = max(grid, key=lambda x: (round(scores[x], 4), -abs(x)))
        head.none_shift.fill_(best)
        out.update(none_shift=best, held_out_link_f1=round(scores[best], 4), held_out_link_f1_unshifted=round(scores[0.0], 4))
        if len(held_out.sense_labels):
            head.sense_shift.zero_()
            sense = head.sense_logits(held_out.sense_vec, held_out.sense_feats)
            is_brand = held_out.sense_labels == 1

            def balanced(shift: float) -> float:
                keep = (sense + shift) >= 0
                return (0.5 * (keep[is_brand].float().mean() + (~keep[~is_brand]).float().mean())).item()

            sense_scores = {shift: balanced(shift) for shift in grid}
            best_sense = max(grid, key=lambda x: (round(sense_scores[x], 4), -abs(x)))
            head.sense_shift.fill_(best_sense)
            out.update(sense_shift=best_sense, held_out_sense_balanced=round(sense_scores[best_sense], 4))
    log(f"calibration: {out}")
    return out


def split_documents(docs: Sequence[BrandDoc], share: float, seed: int) -> tuple[list[BrandDoc], list[BrandDoc]]:
    """A seeded (train, held-out) split of training documents by name (held_out.split_by_name): the
    held-out part picks the epoch and the none and sense shifts."""
    return split_by_name(docs, lambda d: d.name, share, seed)


def label_counts(examples: Sequence[HeadExamples]) -> dict[str, int]:
    labels = torch.cat([e.labels for e in examples]) if examples else torch.zeros(0, dtype=torch.long)
    sense = torch.cat([e.sense_labels for e in examples]) if examples else torch.zeros(0)
    return {"queries": int((labels != SKIP).sum()), "brand_queries": int((labels > 0).sum()),
            "none_queries": int((labels == 0).sum()), "skipped": int((labels == SKIP).sum()),
            "sense_brand": int((sense == 1).sum()), "sense_other": int((sense == 0).sum())}

