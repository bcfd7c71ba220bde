"""`brandscan train`: a command group; each trainer registers itself from its own module."""
from __future__ import annotations

import importlib

import typer

# Trainer modules, each exposing `register(group: typer.Typer) -> None`.
SUBMODULES = ["train_linking", "train_linking_head", "train_operating_point", "train_sense_context",
              "train_sentiment"]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Train heads and adapters on openly licensed data.", no_args_is_help=True)
    app.add_typer(group, name="train")
    for name in SUBMODULES:
        importlib.import_module(f"brandscan.cli.{name}").register(group)
