"""Training and scoring the linking model (LoRA adapters on the encoder + the ranking head).

One LinkDocument at a time: the encoder runs over the whole document (passages, restarting
positions, named-entity anchors as global tokens, exactly as in analysis), the last layer's
attention rows of the query mentions are recomputed, features are built, and cross-entropy over
{none} + candidates trains head and adapters together. Seeds fix the initialisation and the order.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from brandscan.engine.stages.linking.head import (
    LinkingHead,
    LinkingHeadConfig,
)
from brandscan.evaluation.linking_items import Prepared, doc_logits


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
    epoch_forms: Callable[[int], dict[int, Prepared]] | None = None,
) -> LinkingHead:
    """`variants` maps an item index to its distant variant (linking_distant.py): each epoch a
    seeded `distant_share` of those items is replaced by its variant, so the step count is unchanged.
    `epoch_forms(epoch)` maps item indices to the form they take in that epoch (brand_forms.py: a
    renamed, spread or minimal-catalogue brand document); the step count is unchanged too."""
    variants = variants or {}
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    head = LinkingHead(LinkingHeadConfig(hidden=encoder.config.hidden)).to(device)
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
        forms = epoch_forms(epoch) if epoch_forms is not None else {}
        head.train()
        encoder.train()
        total, count, started = 0.0, 0, time.perf_counter()
        for step, index in enumerate(order):
            item = forms.get(index, items[index])
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
