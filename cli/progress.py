"""The progress line on stderr, only for a person at a terminal."""
from __future__ import annotations

from types import TracebackType
from typing import Any


class Progress:
    """A rich progress line while documents stream by.

    Disabled (does nothing at all) with --quiet or when stderr is not a terminal, so cron logs and
    pipelines see nothing but the reports and one line per failed input.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.documents = 0
        self.failed = 0
        self.tokens = 0
        self.seconds = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:  # noqa: PYI034 - Self needs Python 3.11
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

    def advance(self, record: dict[str, Any]) -> None:
        """Count one record, given in its JSON form (`report.to_dict`)."""
        self.documents += 1
        if "error" in record:
            self.failed += 1
        else:
            self.tokens += record["stats"]["tokens"]
            self.seconds += record["stats"]["seconds"]
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=str(record["source"])[-60:])

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # The closing table is the caller's (cli/summary.py), drawn from the run's roll-up.
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
