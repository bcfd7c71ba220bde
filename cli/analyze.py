"""`brandscan analyze`: placeholder replaced in the next commit of this issue."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze() -> None:
        """Analyze documents (being built)."""
        raise typer.Exit(2)
