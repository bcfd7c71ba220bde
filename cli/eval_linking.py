"""`brandscan eval gap|coref|brands`: linking figures on GAP, coreference corpora and brand documents."""
from __future__ import annotations

from pathlib import Path

import typer

FORMATS = ("text", "json")


def register(group: typer.Typer) -> None:
    group.command("gap", no_args_is_help=True)(gap)
    group.command("coref", no_args_is_help=True)(coref)
    group.command("brands", no_args_is_help=True)(brands)


_MODEL = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Model name or directory.")
_HEADS = typer.Option(None, "--head", help="Linking head + adapter directory (default: the model's).")
_DEVICE = typer.Option("cpu", "--device", help="Torch device: cpu, cuda.")
_FORMAT = typer.Option("text", "--format", "-f", help="text (a table) or json (one object).")
_DTYPE = typer.Option("float32", "--dtype", help="Encoder dtype: auto, float32, bfloat16, int8 (CPU).")


def _check_format(fmt: str) -> None:
    from brandscan.engine.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of: {', '.join(FORMATS)}")


def _emit(figures: dict, fmt: str) -> None:
    import json

    if fmt == "json":
        typer.echo(json.dumps(figures, sort_keys=True))
        return
    for key, value in figures.items():
        typer.echo(f"{key:<28} {value:.1f}" if isinstance(value, float) else f"{key:<28} {value}")


def gap(
    file: Path = typer.Argument(..., help="A GAP TSV file (e.g. gap-validation.tsv)."),
    fmt: str = _FORMAT, model: str | None = _MODEL, head: Path | None = _HEADS, device: str = _DEVICE,
    dtype: str = _DTYPE,
) -> None:
    """GAP's official figures: F1 masculine, feminine, overall, and bias (F/M)."""
    _check_format(fmt)
    from brandscan.engine.stages.load import load_linking
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.datasets.gap import read_gap
    from brandscan.evaluation.linking_runs import evaluate_gap

    rows = read_gap(file)
    loaded, encoder, linker = load_linking(model, device, dtype, heads=head)
    s = evaluate_gap(encoder, linker.head.to(device), rows, load_tokenizer(loaded.tokenizer_file),
                     loaded.config.window, loaded.config.global_budget, device)
    _emit({"file": str(file), "pairs": s.pairs, "f1_masculine": s.masculine, "f1_feminine": s.feminine,
           "f1_overall": s.overall, "bias": s.bias}, fmt)


def coref(
    folder: Path = typer.Argument(..., help="A GUM folder (conllu/ + conll_gum/) or LitBank folder (brat_tsv/)."),
    split: str = typer.Option("dev", "--split", help="train or dev."),
    fmt: str = _FORMAT, model: str | None = _MODEL, head: Path | None = _HEADS, device: str = _DEVICE,
    dtype: str = _DTYPE,
) -> None:
    """Antecedent accuracy of pronouns and definite nominals, by passage distance to the gold entity."""
    _check_format(fmt)
    from brandscan.engine.errors import BrandscanError
    from brandscan.engine.stages.load import load_linking
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.datasets.gum import read_gum
    from brandscan.evaluation.datasets.litbank import read_litbank
    from brandscan.evaluation.linking_runs import evaluate_coref

    if (folder / "conllu").is_dir():
        docs, source = read_gum(folder, split), "gum"
    elif (folder / "brat_tsv").is_dir():
        docs, source = read_litbank(folder, split), "litbank"
    else:
        raise BrandscanError(f"{folder}: expected a GUM folder (conllu/, conll_gum/) or a LitBank folder (brat_tsv/)")
    loaded, encoder, linker = load_linking(model, device, dtype, heads=head)
    s = evaluate_coref(encoder, linker.head.to(device), docs, source, load_tokenizer(loaded.tokenizer_file),
                       loaded.config.window, loaded.config.global_budget, device)
    figures: dict = {"corpus": source, "split": split, "documents": len(docs),
                     "accuracy": s.overall.value, "queries": s.overall.total}
    for name, acc in s.by_bucket.items():
        figures[f"accuracy_{name}"] = acc.value
        figures[f"queries_{name}"] = acc.total
    for name, acc in s.by_kind.items():
        figures[f"accuracy_{name}"] = acc.value
    figures["unnamed_rejected"] = s.unnamed_rejected.value
    figures["unnamed_queries"] = s.unnamed_rejected.total
    _emit(figures, fmt)


def brands(
    folder: Path = typer.Argument(..., help="Annotated brand documents (*.md) with their catalog.yaml."),
    fmt: str = _FORMAT, model: str | None = _MODEL,
    catalog: str = typer.Option("full", "--catalog", help="full, or minimal: drop nouns, context and number."),
    baselines_only: bool = typer.Option(False, "--baselines-only", help="Skip the model: counts and floors only."),
    dtype: str = typer.Option("auto", "--dtype", help="Encoder dtype: auto, float32, bfloat16, int8 (CPU)."),
    link_bias: float = typer.Option(0.0, "--link-bias", help="As analyze --link-bias: > 0 links more, < 0 fewer."),
) -> None:
    """Counts of the gold, then every figure of the model beside the nearest-brand and most-frequent-brand
    baselines of the same run (docs/brand-eval-format.md)."""
    _check_format(fmt)
    import json

    from brandscan.engine.config import AnalyzerConfig, check_dtype
    from brandscan.engine.errors import ConfigError
    from brandscan.evaluation.brand_runs import CATALOG_MODES, evaluate_brands

    if catalog not in CATALOG_MODES:
        raise ConfigError(f"--catalog {catalog!r}: expected one of: {', '.join(CATALOG_MODES)}")
    config = AnalyzerConfig(model=model, dtype=check_dtype(dtype, "--dtype"), link_bias=link_bias)
    result = evaluate_brands(folder, catalog, config, with_model=not baselines_only)
    if fmt == "json":
        typer.echo(json.dumps(result, sort_keys=True))
        return
    typer.echo(f"{result['folder']} (catalogue: {result['catalog']})")
    typer.echo("  ".join(f"{k} {v}" for k, v in result["counts"].items()))
    systems = list(result["figures"])
    typer.echo(f"{'figure':<34}" + "".join(f"{name:>15}" for name in systems))
    for key in result["figures"][systems[0]]:
        if key.endswith("_n"):
            continue
        cells = "".join(f"{result['figures'][s][key]:>15.3f}" for s in systems)
        total = result["figures"][systems[0]].get(f"{key}_n")
        typer.echo(f"{key:<34}{cells}" + (f"   n={total}" if total is not None else ""))
