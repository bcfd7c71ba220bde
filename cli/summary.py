"""The per-brand table on stderr (`--summary`, and at a terminal after the progress line)."""
from __future__ import annotations

from typing import Any


def print_summary(summary: dict[str, Any], limit: int | None = None) -> None:
    """Render a `Rollup.to_dict()` as a table on stderr (plain text when stderr is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    title = f"{summary['documents']} documents, {summary['failed']} failed, {summary['tokens']:,} tokens"
    if summary["unlinked"]:
        title += f", {summary['unlinked']} unlinked candidates"
    table = Table(title=title)
    for name, justify in (("brand", "left"), ("name", "left"), ("docs", "right"), ("mentions", "right"),
                          ("explicit", "right"), ("linked", "right"), ("opinions", "right"), ("+", "right"),
                          ("-", "right"), ("=", "right"), ("net", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = summary["brands"] if limit is None else summary["brands"][:limit]
    for brand in rows:
        polarity = brand["polarity"]
        net = brand["net_sentiment"]
        table.add_row(
            brand["id"], brand["name"], str(brand["documents"]), str(brand["mentions"]["total"]),
            str(brand["explicit"]), str(brand["linked"]), str(sum(polarity.values())),
            str(polarity["positive"]), str(polarity["negative"]), str(polarity["neutral"]),
            "" if net is None else f"{net:+.2f}",
        )
    console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 120)
    console.print(table)
    for condition, count in summary["fired"].items():
        console.print(f"--fail-on {condition}: met in {count} document{'s' if count != 1 else ''}")
