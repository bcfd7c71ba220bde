"""`brandscan train opinions`: train the opinion head on annotated brand documents (registered with
`train sentiment` by cli/train_sentiment.py)."""
from __future__ import annotations

import shlex
from pathlib import Path

import typer


def opinions(
    brands: Path = typer.Option(..., "--brands", help="Annotated brand folder (e.g. corpus/brands/train; never dev)."),
    out: Path = typer.Option(..., "--out", help="Directory for opinion_head.*, figures and the training card."),
    mams: Path | None = typer.Option(None, "--mams", help="MAMS folder (MAMS-ATSA/train.xml): more polarity data."),
    seed: int = typer.Option(0, "--seed", help="Seed for the held-out split, initialization, dropout and order."),
    epochs: int = typer.Option(12, "--epochs", help="Passes over the documents."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak learning rate."),
    words: int | None = typer.Option(None, "--words", min=0,
                                     help="Width of the learned word vectors polarity, aspect and tagger read "
                                          "(0: states only; default 32, training/opinion_train.WORDS)."),
    tag_layers: int | None = typer.Option(None, "--tag-layers", min=1, max=4,
                                          help="Convolutions stacked in the expression tagger, each dilated twice "
                                               "the last (default 2, training/opinion_train.TAG_LAYERS; 1: the "
                                               "tagger of the heads before it)."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: all cores)."),
) -> None:
    """Train the opinion head (expressions, who they judge, polarity, aspect) over the document pass."""
    import sys

    import torch

    from brandscan.engine.stages.sentiment.opinion_head import OpinionHeadConfig
    from brandscan.training.opinion_run import run_training
    from brandscan.training.opinion_train import TAG_LAYERS, WORDS, OpinionTrainConfig

    words = WORDS if words is None else words
    tag_layers = TAG_LAYERS if tag_layers is None else tag_layers
    if threads is not None:
        torch.set_num_threads(threads)
    args = ["brandscan", "train", "opinions", "--brands", str(brands), "--out", str(out), "--seed", str(seed),
            "--epochs", str(epochs), "--lr", str(lr), "--words", str(words), "--tag-layers", str(tag_layers)]
    if mams is not None:
        args += ["--mams", str(mams)]
    if model is not None:
        args += ["--model", model]
    config = OpinionTrainConfig(seed=seed, epochs=epochs, lr=lr, head=OpinionHeadConfig(words=words, tag_layers=tag_layers))
    result = run_training(brands, out, config, mams=mams, model=model, command=shlex.join(args),
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    for name, value in result.held_out.items():
        typer.echo(f"held out {name}: {value:.3f} (lexicon baseline {result.baseline[name]:.3f})")
    typer.echo(f"wrote {out}")
