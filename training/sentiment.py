"""Train the aspect polarity model: a LoRA adapter on the encoder plus the head, on MAMS ATSA.

Reproducible: every random choice (initialization, dropout, batch order) draws from the seed, and
the same seed, data, device and torch version give the same weights. The shipped weights are
trained on MAMS alone (Apache-2.0); `semeval` adds SemEval-2014 training sentences (its md5 dev
carve-out held out) for comparison runs only, and such a run says so in its training card.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from brandscan.engine.stages.sentiment.head import (
    SentimentHead,
    SentimentHeadConfig,
    SentimentScorer,
    build_batch,
    forward_batch,
    save_head,
)
from brandscan.engine.text.passages import load_tokenizer
from brandscan.evaluation.datasets.absa import (
    LABEL_OF,
    AbsaSentence,
    DatasetError,
    Figures,
    count_terms,
    read_absa,
)
from brandscan.evaluation.sentiment_runs import evaluate
from brandscan.training.sentiment_augment import aspect_vocabulary, with_variants

CARD_FILE = "TRAINING_CARD.md"
FIGURES_FILE = "figures.json"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 5
    batch_sentences: int = 16  # sentences per step (MAMS: about 2.6 aspect terms each)
    lr: float = 1e-3  # LoRA and head alike: both start from scratch
    weight_decay: float = 0.01
    warmup: float = 0.06  # fraction of steps with a linear warm-up, then linear decay to 0
    coordination_share: float = 0.0  # per epoch, this share of sentences in their "X and Y" variant
    head: SentimentHeadConfig = field(default_factory=SentimentHeadConfig)


@dataclass(frozen=True)
class TrainResult:
    out: Path
    figures: dict[str, Figures]  # evaluation set name -> figures
    train_counts: dict[str, int]
    seconds: float


def _seed_everything(seed: int, device: str) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if device.startswith("cuda"):
        # CPU kernels used here are deterministic already; on CUDA, cuBLAS needs this workspace
        # setting before its first call, and index backward (states[seq]) a deterministic kernel.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def _deterministic_attention(device: str) -> contextlib.AbstractContextManager[None]:
    # CUDA's memory-efficient SDPA backward adds in a nondeterministic order; the math kernel does
    # not, and at these lengths (<= 128 tokens) it costs little.
    if not device.startswith("cuda"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _mams_files(mams: Path) -> tuple[Path, Path]:
    base = mams / "MAMS-ATSA" if (mams / "MAMS-ATSA").is_dir() else mams
    train, val = base / "train.xml", base / "val.xml"
    for path in (train, val):
        if not path.is_file():
            raise DatasetError(f"{path}: MAMS ATSA file missing (expected MAMS-ATSA/train.xml and val.xml)")
    return train, val


def _batches(sentences: Sequence[AbsaSentence], size: int, rng: random.Random) -> list[list[AbsaSentence]]:
    order = [s for s in sentences if s.terms]
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, len(order), size)]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def train_sentiment(
    mams: Path,
    out: Path,
    *,
    config: TrainConfig = TrainConfig(),
    semeval: Sequence[Path] = (),
    dev: Sequence[Path] = (),
    model: str | Path | None = None,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train on MAMS train (+ SemEval train splits), evaluate on MAMS val and the dev files, save to
    `out`: adapter, head, figures and the training card."""
    from brandscan.engine.model.adapters import add_lora, save_adapter
    from brandscan.engine.model.loader import load_model

    started = time.perf_counter()
    _seed_everything(config.seed, device)
    train_path, val_path = _mams_files(mams)
    train = read_absa(train_path)
    for path in semeval:
        train += read_absa(path, split="train")
    evaluations = {"MAMS val": read_absa(val_path)}
    for path in dev:
        # SemEval-2014 files have no dev split of their own: the md5 carve-out is the dev set.
        evaluations[f"{path.name} (dev)"] = read_absa(path, split="dev")

    loaded = load_model(model, dtype="float32", device=device)
    encoder = loaded.encoder
    for p in encoder.parameters():
        p.requires_grad_(False)
    hc = config.head
    lora_params = list(add_lora(encoder, hc.lora_rank, hc.lora_alpha, hc.lora_targets))
    head = SentimentHead(hc).to(device)
    params = lora_params + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    rng = random.Random(config.seed)
    steps_per_epoch = math.ceil(sum(1 for s in train if s.terms) / config.batch_sentences)
    total = steps_per_epoch * config.epochs
    warmup = max(1, int(config.warmup * total))
    loss_fn = nn.CrossEntropyLoss()
    log(f"training on {count_terms(train)} aspect terms, {total} steps, device {device}")

    step = 0
    figures: dict[str, Figures] = {}
    vocabulary = aspect_vocabulary(train)
    for epoch in range(config.epochs):
        encoder.train()
        head.train()
        running = 0.0
        shown = with_variants(train, vocabulary, config.coordination_share, random.Random(config.seed * 1000 + epoch))
        for sentences in _batches(shown, config.batch_sentences, rng):
            items = [(s.text, [(t.start, t.end) for t in s.terms]) for s in sentences]
            batch, _ = build_batch(tokenizer, items, hc.max_tokens)
            labels = torch.tensor([LABEL_OF[t.polarity] for s in sentences for t in s.terms], device=device)
            with _deterministic_attention(device):
                logits, _ = forward_batch(encoder, head, batch.to(device))  # (m, 3)
            loss = loss_fn(logits, labels)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(step, total, warmup)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            running += float(loss.detach())
            step += 1
        scorer = SentimentScorer(encoder, head, hc, tokenizer, device=device, batch_size=64)
        figures = {name: evaluate(scorer, data) for name, data in evaluations.items()}
        shown = ", ".join(f"{n} acc {f.accuracy:.2f} F1 {f.macro_f1:.2f}" for n, f in figures.items())
        log(f"epoch {epoch + 1}/{config.epochs}: loss {running / steps_per_epoch:.4f}; {shown}")

    out.mkdir(parents=True, exist_ok=True)
    encoder.eval()
    head.eval()
    meta = {"task": "aspect-sentiment", "base_model": loaded.name, "base_sha256": loaded.sha256}
    save_adapter(encoder, out, meta)  # adapter.safetensors + adapter.json
    save_head(head, hc, out)
    _ship_merged(model, out)
    seconds = time.perf_counter() - started
    result = TrainResult(out, figures, count_terms(train), seconds)
    data_names = ["MAMS ATSA train (Apache-2.0)"] + [f"{p.name} train split (md5 dev held out)" for p in semeval]
    if config.coordination_share > 0:
        data_names.append(f"each epoch {config.coordination_share:.0%} of sentences shown as a coordination "
                          "variant (training/sentiment_augment.py)")
    _write_card(result, config, data_names, loaded.name, device, command)
    return result


def _figures_dict(figures: dict[str, Figures]) -> dict[str, dict[str, object]]:
    return {name: {k: v for k, v in asdict(f).items()} for name, f in figures.items()}


def _write_card(
    result: TrainResult, config: TrainConfig, data: list[str], base: str, device: str, command: str
) -> None:
    out = result.out
    (out / FIGURES_FILE).write_text(json.dumps(_figures_dict(result.figures), indent=2) + "\n")
    rows = "\n".join(
        f"| {name} | {f.n} | {f.accuracy:.2f} | {f.macro_f1:.2f} |" for name, f in result.figures.items()
    )
    card = f"""# Aspect sentiment head: training card

- Base model: `{base}` (frozen), with a LoRA adapter (rank {config.head.lora_rank}, alpha
  {config.head.lora_alpha}, on {", ".join(config.head.lora_targets)}) and the head of
  `brandscan.engine.stages.sentiment.head` (term-pooled states, [CLS], term-to-sentence attention).
- Input: `[CLS] sentence [SEP]`, every aspect term of the sentence scored from that one encoding.
- Training data: {"; ".join(data)}. Aspect terms by polarity: {result.train_counts}.
- Seed {config.seed}; {config.epochs} epochs of {config.batch_sentences} sentences a step; AdamW lr
  {config.lr}, weight decay {config.weight_decay}, warm-up {config.warmup}, then linear decay;
  device `{device}`; {result.seconds:.0f} s.
- Command: `{command or "(library call)"}`
- Labels: negative, neutral, positive ("conflict" terms are dropped, as in the standard 3-class task).

## Figures after the last epoch (3-class, percent)

| evaluation set | terms | accuracy | macro-F1 |
| --- | --- | --- | --- |
{rows}

SemEval-2014 dev = sentences whose md5(id) % 10 == 0 (the shared files' `suggested_dev` flag); they
are never trained on. MAMS val is the official validation split. The figures are those after the
last epoch: no checkpoint was picked by them.
"""
    (out / CARD_FILE).write_text(card, encoding="utf-8")


def _ship_merged(model: str | Path | None, out: Path) -> None:
    """The adapter merged into the base, so that a run loads it instead of merging (model/merged.py)."""
    from brandscan.engine.model.merged import write_merged

    write_merged(model, out)
