"""Train the opinion head on annotated brand documents (corpus/brands/train), over frozen states.

The states are the document pass of the shipped encoder (linking adapter merged), computed once per
document by the same front half as `analyze`. A seeded share of the documents is held out to choose
the attach thresholds and to report figures; the shipped head is then trained on every document
with those thresholds. Dev documents are never read (the caller refuses a `dev` folder).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.sentiment.aspects import AspectTable
from brandscan.engine.stages.sentiment.opinion_head import OpinionHead, OpinionHeadConfig
from brandscan.engine.stages.sentiment.pooling import Pooled, pool
from brandscan.engine.stages.sentiment.word_bags import word_bags
from brandscan.training.held_out import split_by_name
from brandscan.training.opinion_data import OpinionItems
from brandscan.training.opinion_mams import PolarityItems

THRESHOLDS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
FALLBACKS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
INSIDE: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
# Width of the learned word vectors a trained head reads (docs/sentiment.md, "Word features": 32 against
# none measured on held-out train documents); 0 trains a states-only head.
WORDS = 32
# Convolutions in the expression tagger (OpinionHeadConfig.tag_layers): two held out better than one
# (docs/sentiment.md, "A wider expression tagger").
TAG_LAYERS = 2


@dataclass(frozen=True)
class OpinionTrainConfig:
    seed: int = 0
    epochs: int = 12
    lr: float = 2e-3
    weight_decay: float = 0.01
    held_out: float = 0.15  # share of the training documents held out to pick thresholds
    mams_per_epoch: int = 4000  # MAMS sentences drawn (seeded) per epoch for the polarity part
    mams_batch: int = 40  # of them added to each document's step
    mams_weight: float = 0.5  # their loss, relative to the document's
    head: OpinionHeadConfig = field(default_factory=lambda: OpinionHeadConfig(words=WORDS, tag_layers=TAG_LAYERS))


def split(items: Sequence[OpinionItems], share: float, seed: int) -> tuple[list[OpinionItems], list[OpinionItems]]:
    """(fit, held out): a seeded share of the documents, by name (held_out.split_by_name)."""
    return split_by_name(items, lambda i: i.name, share, seed)


def pooled_items(item: OpinionItems) -> Pooled | None:
    """The item's pooled vectors: they have no parameters, so they are computed once, not per epoch."""
    if not item.expressions:
        return None
    with torch.no_grad():
        return pool(item.states, item.layout, item.expressions, [(r.first, r.last) for r in item.references])


def document_loss(head: OpinionHead, item: OpinionItems, table: AspectTable, pooled: Pooled | None,
                  bags: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The sum of the four parts' losses on one document (`pooled`: pooled_items(item); `bags`:
    item_bags(item))."""
    x = item.states  # (n, d)
    real = torch.from_numpy(item.layout.real)  # (n,)
    ids = torch.from_numpy(item.tokens.input_ids.astype(np.int64))
    loss = nn.functional.cross_entropy(head.tag(x, ids)[real], item.tags[real])
    if pooled is None:
        return loss
    words = head.word_vectors(bags) if bags is not None else None  # (expressions, w) or None
    if item.pairs:
        k = torch.tensor([p[0] for p in item.pairs])
        i = torch.tensor([p[1] for p in item.pairs])
        y = torch.tensor([p[2] for p in item.pairs])
        logits = head.attach(pooled.expression[k], pooled.reference[i], torch.from_numpy(item.pair_features))
        loss = loss + nn.functional.binary_cross_entropy_with_logits(logits, y)
    if item.polarities:
        k = torch.tensor([p[0] for p in item.polarities])
        i = torch.tensor([p[1] for p in item.polarities])
        y = torch.tensor([p[2] for p in item.polarities])
        logits = head.polarity(pooled.expression[k], pooled.reference[i], pooled.sentence[k],
                               None if words is None else words[k])
        loss = loss + nn.functional.cross_entropy(logits, y)
    k = torch.tensor([a[0] for a in item.aspects])
    y = torch.tensor([a[1] for a in item.aspects])
    logits = head.aspect(pooled.context[k], table.keys, torch.from_numpy(item.aspect_features[k.numpy()]),
                         None if words is None else words[k])
    return loss + nn.functional.cross_entropy(logits, y)


def item_bags(item: OpinionItems) -> list[torch.Tensor]:
    """Each gold expression's word_bags row ids, computed once."""
    return word_bags(item.tokens.input_ids, item.layout, item.expressions)


@dataclass(frozen=True, eq=False)
class PolarityBatch:
    """MAMS polarity items, pooled once: expression (m, 2d), reference (m, d), sentence (m, d)."""

    expression: torch.Tensor
    reference: torch.Tensor
    sentence: torch.Tensor
    labels: torch.Tensor  # (m,)
    bags: list[torch.Tensor]  # per item, word_bags row ids of its expression (the term's clause)


def pooled_polarity(items: Sequence[PolarityItems]) -> list[PolarityBatch]:
    """Each MAMS sentence pooled once (term = reference, its clause = expression)."""
    out = []
    with torch.no_grad():
        for item in items:
            pooled = pool(item.states, item.layout, item.expressions, item.references)
            out.append(PolarityBatch(pooled.expression, pooled.reference, pooled.sentence, torch.tensor(item.labels),
                                     word_bags(item.input_ids, item.layout, item.expressions)))
    return out


def polarity_loss(head: OpinionHead, batch: Sequence[PolarityBatch]) -> torch.Tensor:
    """The polarity part's loss on MAMS sentences."""
    logits = head.polarity(torch.cat([b.expression for b in batch]), torch.cat([b.reference for b in batch]),
                           torch.cat([b.sentence for b in batch]), head.word_vectors([w for b in batch for w in b.bags]))
    return nn.functional.cross_entropy(logits, torch.cat([b.labels for b in batch]))


def fit(items: Sequence[OpinionItems], table: AspectTable, config: OpinionTrainConfig,
        log: Callable[[str], None] = print, mams: Sequence[PolarityItems] = ()) -> OpinionHead:
    """A head trained on `items` (and MAMS polarity items) for `config.epochs` epochs (seeded order,
    init and dropout)."""
    torch.manual_seed(config.seed)
    head = OpinionHead(config.head)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    pooled = {id(item): pooled_items(item) for item in items}
    bags = {id(item): item_bags(item) if config.head.words else None for item in items}
    polarity = pooled_polarity(mams)
    total = config.epochs * len(items)
    step = 0
    for epoch in range(config.epochs):
        head.train()
        order = list(items)
        rng.shuffle(order)
        drawn = list(polarity)
        rng.shuffle(drawn)
        drawn = drawn[: config.mams_per_epoch]
        running = 0.0
        for n, item in enumerate(order):
            for group in optimizer.param_groups:
                group["lr"] = config.lr * max(0.05, 1 - step / total)
            loss = document_loss(head, item, table, pooled[id(item)], bags[id(item)])
            extra = drawn[n * config.mams_batch : (n + 1) * config.mams_batch]
            if extra:
                loss = loss + config.mams_weight * polarity_loss(head, extra)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            optimizer.step()
            running += float(loss.detach())
            step += 1
        log(f"epoch {epoch + 1}/{config.epochs}: loss {running / max(1, len(order)):.4f}")
    return head.eval()


def choose_thresholds(head: OpinionHead, config: OpinionHeadConfig, held_out: Sequence[OpinionItems],
                      catalog: Catalog, table: AspectTable) -> tuple[OpinionHeadConfig, dict[str, dict[str, float]]]:
    """The (inside, attach, fallback) thresholds with the best opinion F1 + brand x aspect agreement
    on `held_out`, and the figures of every triple tried."""
    from brandscan.training.opinion_scores import held_out_figures

    tried: dict[str, dict[str, float]] = {}
    best, best_value = config, -1.0
    for inside in INSIDE:
        for threshold in THRESHOLDS:
            for fallback in FALLBACKS:
                trial = replace(config, inside_threshold=inside, attach_threshold=threshold,
                                fallback_threshold=min(fallback, threshold))
                figures = held_out_figures(head, trial, held_out, catalog, table)
                tried[f"{inside}/{threshold}/{fallback}"] = figures
                value = figures["opinion_f1"] + figures["brand_aspect_agreement"]
                if value > best_value + 1e-9:
                    best, best_value = trial, value
    return best, tried


@dataclass(frozen=True)
class OpinionTrainResult:
    head: OpinionHead
    config: OpinionHeadConfig
    held_out: dict[str, float]  # the fitted head's figures on the held-out documents
    baseline: dict[str, float]  # the lexicon baseline's, same documents
    tried: dict[str, dict[str, float]]
    documents: tuple[int, int]  # (fit, held out)
    seconds: float


def train_opinions(items: Sequence[OpinionItems], catalog: Catalog, table: AspectTable, config: OpinionTrainConfig,
                   log: Callable[[str], None] = print, mams: Sequence[PolarityItems] = ()) -> OpinionTrainResult:
    """Fit on the kept documents and choose the thresholds on the held-out ones: the shipped head is
    the one whose held-out figures the card reports."""
    from brandscan.training.opinion_scores import baseline_figures, held_out_figures

    started = time.perf_counter()
    fit_items, held_out = split(items, config.held_out, config.seed)
    log(f"fit on {len(fit_items)} documents, thresholds on {len(held_out)} held out")
    first = fit(fit_items, table, config, log, mams)
    chosen, tried = choose_thresholds(first, config.head, held_out, catalog, table)
    figures = held_out_figures(first, chosen, held_out, catalog, table)
    baseline = baseline_figures(held_out, catalog)
    log(f"held out: {figures}; baseline {baseline}; thresholds {chosen.attach_threshold}/{chosen.fallback_threshold}")
    return OpinionTrainResult(first, chosen, figures, baseline, tried, (len(fit_items), len(held_out)),
                              time.perf_counter() - started)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = ["OpinionTrainConfig", "OpinionTrainResult", "Path", "seed_everything", "train_opinions"]
