"""Progress and the closing summary, on stderr only, and only for a person at a terminal."""
from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Any


class Progress:
    """A rich progress line while documents stream by, then a summary table.

    Disabled (does nothing at all) with --quiet or when stderr is not a terminal, so cron logs and
    pipelines see nothing but the reports and one line per failed input.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.documents = 0
        self.failed = 0
        self.tokens = 0
        self.seconds = 0.0
        self.mentions: Counter[str] = Counter()
        self.names: dict[str, str] = {}
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.completed} documents"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=None)
        return self

    def advance(self, record: Any) -> None:
        self.documents += 1
        if hasattr(record, "error"):
            self.failed += 1
        else:
            self.tokens += record.stats.tokens
            self.seconds += record.stats.seconds
            for brand in record.brands:
                self.mentions[brand.id] += brand.counts.get("total", 0)
                self.names[brand.id] = brand.name
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=record.source[-60:])

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is None:
            return
        self._bar.__exit__(kind, error, trace)
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{self.documents} documents, {self.failed} failed, {self.tokens:,} tokens")
        table.add_column("brand")
        table.add_column("name")
        table.add_column("mentions", justify="right")
        for brand_id, count in self.mentions.most_common(15):
            table.add_row(brand_id, self.names[brand_id], str(count))
        Console(stderr=True).print(table)
