"""`brandscan models list | info NAME|DIR | convert HF_DIR OUT_DIR | merge NAME|DIR`."""
from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path

import typer


class Format(str, Enum):
    table = "table"
    json = "json"


def _entry_json(entry: object) -> dict:
    data = asdict(entry)
    data["directory"] = str(data["directory"])
    data["heads"] = list(data["heads"])
    return data


def _info(name_or_dir: str) -> dict:
    from brandscan.engine.model import registry
    from brandscan.engine.model.convert import hf_encoder_config
    from brandscan.engine.model.encoder import EncoderConfig

    directory = registry.resolve(name_or_dir)
    entry = registry.describe(directory)
    config = registry.read_config(directory)
    if entry.kind == "brandscan":
        encoder = EncoderConfig.from_dict(config.get("encoder", {}))
    else:
        encoder, _ = hf_encoder_config(config, directory / "config.json")
    return {
        **_entry_json(entry),
        "sha256": registry.sha256_of(directory),
        "window": encoder.window,
        "global_budget": encoder.global_budget,
        "config": encoder.to_dict(),
        "source": config.get("source", {}),
    }


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="List, inspect and convert models.", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("list")
    def list_(fmt: Format = typer.Option(Format.table, "--format", help="Output format.")) -> None:
        """List installed models (the package's own and those under $BRANDSCAN_MODELS)."""
        from brandscan.engine.model.loader import list_models

        entries = list_models()
        if fmt is Format.json:
            typer.echo(json.dumps([_entry_json(e) for e in entries], indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "size", "dtype", "licence", "heads", "directory")
        for e in entries:
            table.add_row(e.name, f"{e.size_bytes / 1e6:.1f} MB", e.storage_dtype, e.license,
                          str(len(e.heads)), str(e.directory))
        Console().print(table)

    @models.command("info")
    def info(
        name_or_dir: str = typer.Argument(..., metavar="NAME|DIR", help="A model name or directory."),
        fmt: Format = typer.Option(Format.table, "--format", help="Output format."),
    ) -> None:
        """Name, directory, sha256, size, dtype, window, config, licence and heads of one model."""
        data = _info(name_or_dir)
        if fmt is Format.json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(show_header=False)
        table.add_column("key", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key in ("name", "directory", "kind", "sha256", "size_bytes", "storage_dtype", "window",
                    "global_budget", "license", "heads"):
            value = data[key]
            table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
        table.add_row("config", json.dumps(data["config"], sort_keys=True))
        Console().print(table)

    @models.command("convert")
    def convert(
        hf_dir: Path = typer.Argument(..., help="A local Hugging Face BERT/RoBERTa/Longformer checkpoint directory."),
        out_dir: Path = typer.Argument(..., help="The brandscan model directory to write."),
        dtype: str = typer.Option("fp16", "--dtype", help="Storage dtype: fp16, fp32 or bf16."),
        name: str = typer.Option(None, "--name", help="Model name (default: OUT_DIR's name)."),
        license_file: Path = typer.Option(None, "--license", help="Licence file, if HF_DIR has none."),
        notice: str = typer.Option(None, "--notice", help="Extra provenance line for the NOTICE file."),
    ) -> None:
        """Convert a Hugging Face checkpoint (safetensors) into a brandscan model directory."""
        from brandscan.engine.model.convert import convert_checkpoint

        out = convert_checkpoint(hf_dir, out_dir, dtype=dtype, name=name, license_file=license_file, notice=notice)
        typer.echo(str(out))

    @models.command("merge")
    def merge(
        name_or_dir: str = typer.Argument(None, metavar="[NAME|DIR]", help="A model name or directory (default: the embedded model)."),
    ) -> None:
        """Merge each head's LoRA adapter into the base once and ship it (HEAD/merged.safetensors, its
        sha256 in HEAD/merged.json), so that a run loads the adapted encoders instead of merging."""
        from brandscan.engine.model import registry
        from brandscan.engine.model.adapters import ADAPTER_WEIGHTS
        from brandscan.engine.model.merged import write_merged

        directory = registry.resolve(name_or_dir)
        heads = sorted(p for p in (directory / "heads").glob("*") if (p / ADAPTER_WEIGHTS).is_file())
        for head in heads:
            typer.echo(str(write_merged(directory, head)))
        if not heads:
            typer.echo(f"{directory}: no head with an adapter; nothing to merge", err=True)
