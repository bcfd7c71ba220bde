"""`brandscan corpus check DIR`: validate annotated brand documents and print what they hold."""
from __future__ import annotations

from pathlib import Path

import typer

FORMATS = ("text", "json")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The annotated brand corpus (docs/brand-annotation.md).", no_args_is_help=True)
    app.add_typer(group, name="corpus")
    group.command("check", no_args_is_help=True)(check)
    group.command("gum", no_args_is_help=True)(gum)
    group.command("held-out", no_args_is_help=True)(held_out)


def check(
    folders: list[Path] = typer.Argument(..., help="Folders of annotated documents, each with its catalog.yaml."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (counts, then problems) or json (one object)."),
) -> None:
    """Reject documents whose marks do not parse, whose brand ids are not in the catalogue, or that
    break a countable convention; print the counts. Exit 0 when clean, 2 when anything is wrong."""
    import orjson

    from brandscan.engine.errors import ConfigError
    from brandscan.evaluation.corpus_check import COUNT_KEYS, check_corpus

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of: {', '.join(FORMATS)}")
    failed = False
    for folder in folders:
        result = check_corpus(folder)
        failed |= bool(result.problems)
        if fmt == "json":
            typer.echo(orjson.dumps({"folder": str(folder), **result.as_dict()}).decode())
            continue
        typer.echo(f"== {folder}")
        for key in COUNT_KEYS:
            typer.echo(f"{key:<24} {result.counts[key]}")
        typer.echo(f"{'brands':<24} {len(result.brands)}")
        typer.echo(f"{'repeated sentences':<24} {result.repeated_share:.2%}")
        for genre in sorted(result.genres):
            typer.echo(f"  {genre:<22} {result.genres[genre]:>3} documents {result.words_by_genre[genre]:>7} words")
        for line in result.problems:
            typer.echo(line, err=True)
        typer.echo(f"{len(result.problems)} problems", err=True)
    if failed:
        raise typer.Exit(2)


def gum(
    gum_root: Path = typer.Argument(..., help="A GUM folder (conllu/, conll_gum/, documents.tsv)."),
    out: Path = typer.Argument(..., help="Folder to write the annotated documents and catalog.yaml into."),
    split: str = typer.Option("dev", "--split", help="train or dev."),
    all_genres: bool = typer.Option(False, "--all-genres",
                                    help="Every genre, not only the CC-BY ones (evaluation only: some are NC)."),
    senses: bool = typer.Option(False, "--senses",
                                help="Rename about half the named organisations, places and people, each "
                                     "consistently in its document, to common words brands are named after (a "
                                     "bird, a tree, a stone): ambiguous brands and non-brand uses of the same "
                                     "names, for training the sense module."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --senses renaming."),
) -> None:
    """GUM organisation chains as brand documents, for `brandscan eval brands OUT` and training."""
    from brandscan.engine.errors import ConfigError
    from brandscan.evaluation.datasets.gum import CC_BY_GENRES
    from brandscan.training.gum_brands import build_gum_brands

    if split not in ("train", "dev"):
        raise ConfigError(f"--split {split!r}: expected one of: train, dev")
    written = build_gum_brands(gum_root, split, out, genres=None if all_genres else CC_BY_GENRES,
                               senses=senses, seed=seed)
    typer.echo(f"{written} documents with brands written to {out}", err=True)


def held_out(
    brands: Path = typer.Argument(..., help="The brand corpus folder the heads trained on, e.g. corpus/brands/train."),
    out: Path = typer.Argument(..., help="Folder to copy the held-out documents and catalog.yaml into."),
    share: float = typer.Option(0.15, "--held-out", min=0.01, max=0.5,
                                help="The held-out share the training commands used (their --held-out)."),
    seed: int = typer.Option(0, "--seed", help="The seed of that split (their --seed)."),
) -> None:
    """Copy the training documents that `train linking-head`, `train opinions`, `train sense-context` and
    `train operating-point` hold out (a seeded hash of each file name) into OUT, so that `brandscan eval brands
    OUT` measures what every choice of a head, a shift or a threshold was measured on."""
    import shutil

    from brandscan.engine.errors import ConfigError
    from brandscan.evaluation.brand_marks import brand_doc_files
    from brandscan.training.held_out import split_by_name

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: not empty; the held-out documents go into a new or empty folder")
    if not (brands / "catalog.yaml").is_file():
        raise ConfigError(f"{brands}: no catalog.yaml here (a brand corpus folder holds one beside its documents)")
    _, chosen = split_by_name(brand_doc_files(brands), lambda p: p.name, share, seed)
    out.mkdir(parents=True, exist_ok=True)
    for path in [*chosen, brands / "catalog.yaml"]:
        shutil.copyfile(path, out / path.name)
    typer.echo(f"{len(chosen)} held-out documents of {brands} copied to {out}", err=True)
