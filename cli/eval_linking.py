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
) -> None:
    """GAP's official figures: F1 masculine, feminine, overall, and bias (F/M)."""
    _check_format(fmt)
    from brandscan.engine.evaluation.linking_runs import evaluate_gap
    from brandscan.engine.linking import load_linking
    from brandscan.engine.passages import load_tokenizer
    from brandscan.engine.training.gap import read_gap

    rows = read_gap(file)
    loaded, encoder, linker = load_linking(model, device, heads=head)
    s = evaluate_gap(encoder, linker.head.to(device), rows, load_tokenizer(loaded.tokenizer_file),
                     loaded.config.window, loaded.config.global_budget, device)
    _emit({"file": str(file), "pairs": s.pairs, "f1_masculine": s.masculine, "f1_feminine": s.feminine,
           "f1_overall": s.overall, "bias": s.bias}, fmt)


def coref(
    folder: Path = typer.Argument(..., help="A GUM folder (conllu/ + conll_gum/) or LitBank folder (brat_tsv/)."),
    split: str = typer.Option("dev", "--split", help="train or dev."),
    fmt: str = _FORMAT, model: str | None = _MODEL, head: Path | None = _HEADS, device: str = _DEVICE,
) -> None:
    """Antecedent accuracy of pronouns and definite nominals, by passage distance to the gold entity."""
    _check_format(fmt)
    from brandscan.engine.errors import BrandscanError
    from brandscan.engine.evaluation.linking_runs import evaluate_coref
    from brandscan.engine.linking import load_linking
    from brandscan.engine.passages import load_tokenizer
    from brandscan.engine.training.gum import read_gum
    from brandscan.engine.training.litbank import read_litbank

    if (folder / "conllu").is_dir():
        docs, source = read_gum(folder, split), "gum"
    elif (folder / "brat_tsv").is_dir():
        docs, source = read_litbank(folder, split), "litbank"
    else:
        raise BrandscanError(f"{folder}: expected a GUM folder (conllu/, conll_gum/) or a LitBank folder (brat_tsv/)")
    loaded, encoder, linker = load_linking(model, device, heads=head)
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
    fmt: str = _FORMAT, model: str | None = _MODEL, head: Path | None = _HEADS, device: str = _DEVICE,
    attribution: str = typer.Option("attention", "--attribution", help="attention or rollout."),
) -> None:
    """Explicit P/R/F1, implicit and distant link accuracy, non-brand rejection (docs/brand-eval-format.md)."""
    _check_format(fmt)
    from brandscan.engine.catalog import load_catalog
    from brandscan.engine.evaluation.brand_docs import link_mentions, read_brand_docs, score_brand_docs
    from brandscan.engine.linking import LinkingOptions, load_linking
    from brandscan.engine.passages import load_tokenizer

    docs = read_brand_docs(folder)
    catalog = load_catalog(folder / "catalog.yaml")
    loaded, encoder, linker = load_linking(model, device, heads=head)
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    options = LinkingOptions(attribution=attribution)
    predictions = [link_mentions(d.text, catalog, encoder, linker, tokenizer, loaded.config.global_budget,
                                 d.author, options) for d in docs]
    s = score_brand_docs(docs, predictions)
    _emit({"documents": len(docs), "explicit_precision": s.explicit_precision, "explicit_recall": s.explicit_recall,
           "explicit_f1": s.explicit_f1, "implicit_accuracy": s.implicit_accuracy, "implicit_links": s.implicit_total,
           "distant_accuracy": s.distant_accuracy, "distant_links": s.distant_total,
           "nonbrand_rejection": s.rejection_accuracy, "nonbrand_spans": s.rejection_total}, fmt)
