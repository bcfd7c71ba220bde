"""`brandscan train sentiment`: train the aspect polarity adapter and head (registered by cli/train.py)."""
from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(group: typer.Typer) -> None:
    from brandscan.cli.train_opinions import opinions

    group.command("sentiment", no_args_is_help=True)(sentiment)
    group.command("opinions", no_args_is_help=True)(opinions)


def sentiment(
    mams: Path = typer.Option(..., "--mams", help="MAMS folder (holding MAMS-ATSA/train.xml and val.xml)."),
    out: Path = typer.Option(..., "--out", help="Directory for adapter, head, figures and TRAINING_CARD.md."),
    seed: int = typer.Option(0, "--seed", help="Seed for initialization, dropout and batch order."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda."),
    semeval: list[Path] = typer.Option(
        [], "--semeval", help="Also train on this SemEval-2014 file's train split (comparison runs only)."
    ),
    dev: list[Path] = typer.Option([], "--dev", help="Also report figures on this SemEval-2014 file's dev split."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the training data."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (LoRA and head)."),
    rank: int = typer.Option(8, "--rank", help="LoRA rank (alpha = 2 x rank)."),
    coordination_share: float = typer.Option(
        0.0, "--coordination-share", min=0.0, max=1.0,
        help="Per epoch, this share of sentences gets an aspect term joined by 'and' to an opinionated one."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: all cores)."),
) -> None:
    """Train aspect sentiment on MAMS (reproducible with --seed); ship only MAMS-only runs."""
    import sys

    import torch

    from brandscan.engine.stages.sentiment.head import SentimentHeadConfig
    from brandscan.training.sentiment import TrainConfig, train_sentiment

    if threads is not None:
        torch.set_num_threads(threads)
    args = ["brandscan", "train", "sentiment", "--mams", str(mams), "--out", str(out), "--seed", str(seed)]
    args += ["--device", device, "--epochs", str(epochs), "--lr", str(lr), "--rank", str(rank)]
    if coordination_share:
        args += ["--coordination-share", str(coordination_share)]
    for path in semeval:
        args += ["--semeval", str(path)]
    for path in dev:
        args += ["--dev", str(path)]
    if model is not None:
        args += ["--model", model]
    head = SentimentHeadConfig(lora_rank=rank, lora_alpha=2.0 * rank)
    config = TrainConfig(seed=seed, epochs=epochs, lr=lr, head=head, coordination_share=coordination_share)
    result = train_sentiment(
        mams, out, config=config, semeval=semeval, dev=dev, model=model,
        device=device, command=shlex.join(args), log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    for name, f in result.figures.items():
        typer.echo(f"{name}: accuracy {f.accuracy:.2f}, macro-F1 {f.macro_f1:.2f} ({f.n} terms)")
    typer.echo(f"wrote {out}")
