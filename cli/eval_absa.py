"""`brandscan eval absa FILE`: aspect polarity accuracy and macro-F1 (registered by cli/eval.py)."""
from __future__ import annotations

from pathlib import Path

import typer

FORMATS = ("text", "json")
SPLITS = ("all", "train", "dev")


def register(group: typer.Typer) -> None:
    group.command("absa", no_args_is_help=True)(absa)


def absa(
    file: Path = typer.Argument(..., help="MAMS or SemEval-2014 XML, or SemEval-style JSONL."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (a table) or json (one object)."),
    split: str = typer.Option(
        "all", "--split", help="all, or the md5 carve-out of SemEval-2014 files: train, dev (md5(id) % 10 == 0)."
    ),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Model name or directory."),
    head: Path | None = typer.Option(None, "--head", help="Sentiment head directory (default: the model's)."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: all cores)."),
    dtype: str = typer.Option("auto", "--dtype", help="Encoder dtype: auto, float32, bfloat16, int8 (CPU)."),
) -> None:
    """Score every aspect term of FILE and print accuracy and macro-F1 (3 classes, conflict dropped)."""
    import json

    from brandscan.engine.errors import ConfigError
    from brandscan.engine.report import HEAD_LABELS
    from brandscan.engine.stages.load import load_sentiment
    from brandscan.evaluation.datasets.absa import read_absa
    from brandscan.evaluation.sentiment_runs import evaluate

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of: {', '.join(FORMATS)}")
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of: {', '.join(SPLITS)}")
    sentences = read_absa(file, split=split)  # type: ignore[arg-type]
    scorer = load_sentiment(model, head, device=device, threads=threads, dtype=dtype)
    figures = evaluate(scorer, sentences)
    if fmt == "json":
        record = {
            "file": str(file),
            "split": split,
            "terms": figures.n,
            "accuracy": round(figures.accuracy, 4),
            "macro_f1": round(figures.macro_f1, 4),
            "f1": {k: round(v, 4) for k, v in figures.f1.items()},
            "labels": list(HEAD_LABELS),
            "confusion": [list(row) for row in figures.confusion],
        }
        typer.echo(json.dumps(record))
        return
    typer.echo(f"{file} ({split}): {figures.n} aspect terms")
    typer.echo(f"accuracy  {figures.accuracy:6.2f}")
    typer.echo(f"macro-F1  {figures.macro_f1:6.2f}")
    for name in HEAD_LABELS:
        typer.echo(f"F1 {name:<9}{figures.f1[name]:6.2f}")
