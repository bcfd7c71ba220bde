"""Training and scoring the linking model (LoRA adapters on the encoder + the ranking head).

One LinkDocument at a time: the encoder runs over the whole document (passages, restarting
positions, named-entity anchors as global tokens, exactly as in analysis), the last layer's
attention rows of the query mentions are recomputed, features are built, and cross-entropy over
{none} + candidates trains head and adapters together. Seeds fix the initialisation and the order.
"""
from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..attribution import row_attention
from ..globals import select_global_tokens
from ..linking import layer_attention
from ..linking_head import (
    EntitySpec,
    HeadConfig,
    LinkingHead,
    QuerySpec,
    build_features,
    initial_positions,
    sentence_initial,
)
from ..passages import TokenizedDocument, tokenize_document
from .data import LinkDocument


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    lr_head: float = 1e-3
    lr_adapter: float = 5e-4
    rank: int = 8  # LoRA rank; 8 on every projection of 6 layers is ~0.5M parameters (1 MB fp16)
    alpha: float = 16.0
    targets: tuple[str, ...] = ("query", "key", "value", "out", "up", "down")
    seed: int = 0
    window: int = 256
    global_budget: int = 512
    max_queries: int = 64  # per step: long novels have hundreds of queries; sample, keep memory flat
    weight_decay: float = 0.01
    distant_share: float = 0.3  # per epoch, this share of documents with a distant variant uses it


@dataclass(frozen=True, eq=False)
class Prepared:
    doc: LinkDocument
    tokens: TokenizedDocument
    global_positions: np.ndarray
    queries: tuple[QuerySpec, ...]
    entities: tuple[EntitySpec, ...]
    labels: tuple[int, ...]  # 0 = none, 1 + position of the gold entity within the query's candidates
    passage_distance: tuple[int, ...]
    initial: np.ndarray  # (n,) bool sentence-initial tokens at query and anchor starts


def prepare(doc: LinkDocument, tokenizer, budget: int) -> Prepared | None:  # type: ignore[no-untyped-def]
    tokens = tokenize_document(doc.text, tokenizer)
    entities = []
    for anchors in doc.entities:
        spans = []
        for a in anchors:
            try:
                spans.append(tokens.token_span(a.start, a.end))
            except ValueError:
                continue
        entities.append(EntitySpec(tuple(spans)))
    queries, labels, distances = [], [], []
    for q in doc.queries:
        try:
            span = tokens.token_span(q.start, q.end)
        except ValueError:
            continue
        cands = tuple(e for e in q.entities if entities[e].anchors)
        if not cands:
            continue
        label = 1 + cands.index(q.gold) if q.gold in cands else 0
        queries.append(QuerySpec(span[0], span[1], q.kind, cands))
        labels.append(label)
        if q.gold >= 0 and entities[q.gold].anchors:
            here = int(tokens.passage_of[span[0]])
            distances.append(min(abs(here - int(tokens.passage_of[s])) for s, _ in entities[q.gold].anchors))
        else:
            distances.append(0)
    if not queries:
        return None
    markers = np.flatnonzero(tokens.is_marker).tolist()
    anchors = [(s, str(e)) for e, ent in enumerate(entities) for s, _ in ent.anchors]
    positions = np.asarray(select_global_tokens(tokens.n_tokens, markers, anchors, budget), dtype=np.int64)
    initial = sentence_initial(tokens, initial_positions(queries, entities))
    return Prepared(doc, tokens, positions, tuple(queries), tuple(entities), tuple(labels), tuple(distances),
                    initial)


def doc_logits(encoder: torch.nn.Module, head: LinkingHead, item: Prepared, window: int, device: str,
               subset: Sequence[int] | None = None) -> Tensor:
    """Head logits (Q, 1+E) for the document's queries (or a subset), through the encoder."""
    tokens = item.tokens
    ids = torch.from_numpy(tokens.input_ids.copy())[None].to(device)  # (1, n)
    pos = torch.from_numpy(tokens.position_ids.copy())[None].to(device)  # (1, n)
    gmask = torch.zeros(1, tokens.n_tokens, dtype=torch.bool, device=device)
    gpos = torch.from_numpy(item.global_positions).to(device)
    gmask[0, gpos] = True
    attention_window = window
    config = encoder.config
    if torch.is_grad_enabled() and tokens.n_tokens - 1 > window // 2:
        # The streaming sparse kernel works in place and cannot be differentiated; in training a
        # long document takes the encoder's dense path (a window covering it). Anchors are global
        # tokens in analysis, so the features it learns from (attention to anchors at any
        # distance) stay available there. Scoring (no grad) runs the real sparse pattern.
        attention_window = 2 * tokens.n_tokens
        encoder.config = dataclasses.replace(config, window=attention_window)
    try:
        out = encoder(ids, pos, gmask, output_hidden_states=True)
    finally:
        encoder.config = config
    hidden = out.last_hidden[0]  # (n, d)
    layer_in = out.hidden_states[-2][0]  # (n, d): input of the last layer
    queries = [item.queries[i] for i in subset] if subset is not None else list(item.queries)
    rows = torch.tensor(sorted({p for q in queries for p in range(q.tok_start, q.tok_end)}), device=device)
    att = row_attention(layer_attention(encoder.layers[-1], layer_in), rows, gpos, attention_window)
    feats = build_features(hidden, att, tokens.passage_of, queries, item.entities, window, item.initial)
    return head(*feats)


def predict(encoder: torch.nn.Module, head: LinkingHead, items: Sequence[Prepared], window: int,
            device: str) -> list[list[int]]:
    """Per document, per query: the chosen entity index into doc.entities, or -1 for none."""
    head.eval()
    encoder.eval()
    results = []
    with torch.no_grad():
        for item in items:
            logits = doc_logits(encoder, head, item, window, device)
            choice = logits.argmax(dim=-1).tolist()
            results.append([q.entities[c - 1] if c > 0 else -1 for q, c in zip(item.queries, choice)])
    return results


@dataclass
class TrainLog:
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)


def train(
    encoder: torch.nn.Module,
    adapter_params: list[torch.nn.Parameter],
    items: Sequence[Prepared],
    config: TrainConfig,
    device: str,
    log: Callable[[str], None] = print,
    on_epoch: Callable[[int, LinkingHead], None] | None = None,
    variants: dict[int, Prepared] | None = None,
) -> LinkingHead:
    """`variants` maps an item index to its distant variant (linking_distant.py): each epoch a
    seeded `distant_share` of those items is replaced by its variant, so the step count is unchanged."""
    variants = variants or {}
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    head = LinkingHead(HeadConfig(hidden=encoder.config.hidden)).to(device)
    groups = [{"params": list(head.parameters()), "lr": config.lr_head}]
    if adapter_params:
        groups.append({"params": adapter_params, "lr": config.lr_adapter})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    steps = config.epochs * len(items)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 20)) * max(0.0, 1 - s / max(1, steps))
    )
    order = list(range(len(items)))
    for epoch in range(config.epochs):
        rng.shuffle(order)
        head.train()
        encoder.train()
        total, count, started = 0.0, 0, time.perf_counter()
        for step, index in enumerate(order):
            item = items[index]
            if index in variants and rng.random() < config.distant_share:
                item = variants[index]
            subset = list(range(len(item.queries)))
            if len(subset) > config.max_queries:
                subset = sorted(rng.sample(subset, config.max_queries))
            logits = doc_logits(encoder, head, item, config.window, device, subset)
            labels = torch.tensor([item.labels[i] for i in subset], device=device)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(head.parameters()) + list(adapter_params), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
            count += 1
            if step % 500 == 0:
                log(f"epoch {epoch} step {step}/{len(order)} loss {total / count:.4f}")
        log(f"epoch {epoch} done: loss {total / max(count, 1):.4f} in {time.perf_counter() - started:.0f}s")
        if on_epoch is not None:
            on_epoch(epoch, head)
    head.eval()
    return head
