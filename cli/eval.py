"""`brandscan eval`: a command group; each evaluation registers itself from its own module."""
from __future__ import annotations

import importlib

import typer

# Evaluation modules, each exposing `register(group: typer.Typer) -> None`.
SUBMODULES = ["eval_linking", "eval_absa"]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Figures on datasets (GAP, coreference, brand documents, ABSA).", no_args_is_help=True)
    app.add_typer(group, name="eval")
    for name in SUBMODULES:
        importlib.import_module(f"brandscan.cli.{name}").register(group)
