"""`brandscan models`: placeholder replaced by the encoder issue."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="List and inspect installed models.", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("list")
    def list_() -> None:
        """List installed models (being built)."""
