"""`brandscan train operating-point`: the linker's default bias, chosen on held-out training documents."""
from __future__ import annotations

from pathlib import Path

import typer

from brandscan.training.operating_point import LIMIT, MARGIN, STEP


def register(group: typer.Typer) -> None:
    group.command("operating-point", no_args_is_help=True)(operating_point)


def operating_point(
    brands: Path = typer.Option(..., "--brands", help="The brand corpus folder the head trained on, e.g. "
                                                      "corpus/brands/train; a folder named dev is refused."),
    held_out: float = typer.Option(0.15, "--held-out", min=0.01, max=0.5,
                                   help="The held-out share `train linking-head` used (its --held-out)."),
    seed: int = typer.Option(0, "--seed", help="The seed of that split (its --seed)."),
    catalog: str = typer.Option("minimal", "--catalog", help="full, or minimal: drop nouns, context and number."),
    margin: float = typer.Option(MARGIN, "--margin", min=0.0, max=0.2,
                                 help="How far above both floors every implicit figure must be."),
    dtype: str = typer.Option("auto", "--dtype", help="Encoder dtype: auto, float32, bfloat16, int8 (CPU)."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
    write: bool = typer.Option(False, "--write", help="Move the model's linking head to the chosen point (its "
                                                      "none shift) and record the table in its figures.json."),
) -> None:
    """Analyse the held-out training documents at link biases 0, ±0.25, ... and print each beside the
    nearest-brand and most-frequent floors; choose the smallest bias at which all, pronoun, noun-phrase and
    distant implicit accuracy each beat both floors by --margin. Exit 1 when no bias up to 4 does."""
    import json
    import sys

    from brandscan.engine.config import AnalyzerConfig, check_dtype
    from brandscan.engine.errors import ConfigError
    from brandscan.engine.model.loader import load_model
    from brandscan.evaluation.brand_marks import read_brand_docs
    from brandscan.evaluation.brand_runs import CATALOG_MODES, brand_catalog, floor_figures, model_figures
    from brandscan.training.brand_training import refuse_dev
    from brandscan.training.held_out import split_by_name
    from brandscan.training.operating_point import IMPLICIT_FIGURES, choose_bias, shortfall

    refuse_dev(brands)
    if catalog not in CATALOG_MODES:
        raise ConfigError(f"--catalog {catalog!r}: expected one of: {', '.join(CATALOG_MODES)}")
    config = AnalyzerConfig(model=model, dtype=check_dtype(dtype, "--dtype"))
    _, docs = split_by_name(read_brand_docs(brands), lambda d: d.name, held_out, seed)
    cat = brand_catalog(brands, catalog)  # type: ignore[arg-type]
    floors = floor_figures(docs, cat)
    shown = (*IMPLICIT_FIGURES, "implicit_precision")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    log(f"{len(docs)} held-out documents of {brands}; " + "  ".join(
        f"{name}: " + " ".join(f"{floors[name][k]:.3f}" for k in shown) for name in floors))

    def figures_at(bias: float) -> dict[str, float | int]:
        figures = model_figures(docs, cat, config.replace(link_bias=bias))
        missing = shortfall(figures, floors, margin)
        log(f"bias {bias:+.2f}: " + " ".join(f"{figures[k]:.3f}" for k in shown)
            + (f"  short: {missing}" if missing else "  beats both floors"))
        return figures

    point = choose_bias(figures_at, floors, margin, STEP, LIMIT)
    summary = {"bias": point.bias, "margin": margin, "catalog": catalog, "dtype": config.dtype,
               "held_out": held_out, "seed": seed, "documents": len(docs), "brands": str(brands),
               "floors": {name: {k: f[k] for k in shown} for name, f in floors.items()},
               "tried": {f"{b:g}": {k: f[k] for k in shown} for b, f in sorted(point.tried.items())}}
    if point.bias is not None and write:
        summary["head"] = str(_move_head(load_model(model).heads_dir, point.bias, summary))
    print(json.dumps(summary, sort_keys=True))
    if point.bias is None:
        log(f"no link bias up to {LIMIT:g} beats both floors by {margin:g} on every implicit figure")
        raise typer.Exit(1)


def _move_head(heads_dir: Path, bias: float, summary: dict) -> Path:
    """The head's none shift moved by -bias, so that `--link-bias 0` is the chosen point; figures.json
    keeps the table and the shift before, and the head's card says what was done."""
    from brandscan.engine.model.loader import read_safetensors
    from brandscan.engine.stages.linking.decide import HEAD_FILE
    from brandscan.engine.stages.linking.head import load_head, save_head
    from brandscan.engine.stages.load import LINKING_DIR
    from brandscan.training.cards import card_section, record_figures

    directory = heads_dir / LINKING_DIR
    path = directory / HEAD_FILE
    head = load_head(path)
    _, metadata = read_safetensors(path)
    before = float(head.none_shift)
    head.none_shift.fill_(before - bias)
    save_head(head, path, {k: v for k, v in metadata.items()
                           if k not in ("config", "features", "sense_features", "members")})
    record_figures(directory, "operating_point", {**summary, "none_shift_before": before, "none_shift": before - bias})
    card_section(directory, "Operating point", (
        f"`brandscan train operating-point --brands {summary['brands']} --write` moved the none shift from "
        f"{before:g} to {before - bias:g} (link bias {bias:g}): the smallest shift at which the whole analysis of "
        f"the {summary['documents']} held-out train documents beats the nearest-brand and most-frequent-brand "
        f"rules by {summary['margin']:g} on implicit, pronoun, noun-phrase and distant accuracy (figures.json, "
        "\"operating_point\"; docs/linking.md)."))
    return path
