"""Where reports go: stdout (JSON, JSON Lines, HTML) or one file per input in a directory.
With `--format summary-json` and no directory, reports go nowhere and stdout gets the roll-up.

Files are written atomically (atomic.py: an exclusive temporary file in the same directory, fsync,
rename), so a reader or an interrupted run never sees a half-written report; names follow names.py.
Every HTML page, an error record's included, is the escaped, CSP-protected page of engine/render/html.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from brandscan.engine import report as report_types
from brandscan.engine.errors import ConfigError
from brandscan.engine.run.cache import CachedReport
from brandscan.engine.text.inputs import Origin

from .atomic import remove_leftovers, write_atomic
from .names import Namer, fallback_origin

Record = report_types.Report | report_types.ErrorRecord | CachedReport

FORMATS = ("auto", "json", "jsonl", "html", "summary-json")


def dumps(record: Record, *, pretty: bool = False) -> bytes:
    """One record as JSON; a cache hit is already in JSON form and serializes to the same bytes."""
    if isinstance(record, CachedReport):
        return record.dumps(pretty=pretty)
    return report_types.dumps(record, pretty=pretty)


def encode(record: Record, fmt: str) -> bytes:
    """One record in the given format: pretty JSON, one JSON line, or an HTML page."""
    if fmt == "html":
        from brandscan.engine.render.html import render_html

        data = record.data if isinstance(record, CachedReport) else report_types.to_dict(record)
        return render_html(data).encode("utf-8")
    if fmt == "json":
        return dumps(record, pretty=True) + b"\n"
    return dumps(record) + b"\n"


class StdoutWriter:
    """Streams records to stdout. `json` with several records writes one JSON array."""

    def __init__(self, stream: BinaryIO, fmt: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.count = 0

    def write(self, record: Record, origin: Origin | None = None) -> None:
        if self.fmt == "json_array":
            self.stream.write(b"[\n" if self.count == 0 else b",\n")
            self.stream.write(dumps(record, pretty=True))
        else:
            self.stream.write(encode(record, self.fmt))
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json_array":
            self.stream.write(b"[]\n" if self.count == 0 else b"\n]\n")
            self.stream.flush()


class DirectoryWriter:
    """One file per input under a directory, written atomically."""

    def __init__(self, directory: Path, fmt: str) -> None:
        self.directory = directory
        self.fmt = "json" if fmt in ("auto", "jsonl") else fmt
        self.namer = Namer(directory, ".html" if self.fmt == "html" else ".json")
        self.count = 0
        self._swept: set[Path] = set()

    def write(self, record: Record, origin: Origin | None = None) -> None:
        path = self.namer.path(origin or fallback_origin(record.source))
        data = encode(record, self.fmt)
        if path.parent not in self._swept:  # the first write here: clear what killed runs left
            self._swept.add(path.parent)
            remove_leftovers(path.parent)
        try:
            write_atomic(path, data)
        except OSError as error:
            # Nothing written can land (a full disk, a file where a folder must be): stop with the reason.
            raise ConfigError(f"-o {self.directory}: cannot write {path}: {error.strerror or error}") from None
        self.count += 1

    def close(self) -> None:
        pass


class NullWriter:
    """Writes nothing: `--format summary-json` without a directory prints only the roll-up."""

    count = 0

    def write(self, record: Record, origin: Origin | None = None) -> None:
        pass

    def close(self) -> None:
        pass
