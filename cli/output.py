"""Where reports go: stdout (JSON, JSON Lines, HTML) or one file per input in a directory.
With `--format summary-json` and no directory, reports go nowhere and stdout gets the roll-up.

Files are written atomically (a temporary file in the same directory, fsync, rename), so a reader
or an interrupted run never sees a half-written report.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from brandscan.engine import report as rp
from brandscan.engine.cache import CachedReport

Record = rp.Report | rp.ErrorRecord | CachedReport

FORMATS = ("auto", "json", "jsonl", "html", "summary-json")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_path(directory: Path, source: str, extension: str) -> Path:
    """The output file for one input: its path made relative and safe, plus the extension.

    `docs/a.txt` -> DIR/docs/a.txt.json; `feed.jsonl#42` -> DIR/feed.jsonl/42.json; `-` -> DIR/stdin.json.
    """
    if source == "-":
        return directory / f"stdin{extension}"
    path_part, _, record = source.partition("#")
    parts = [p for p in Path(path_part).parts if p not in ("/", "..", ".", "")]
    parts = [_UNSAFE.sub("_", p.lstrip(os.sep)) or "_" for p in parts] or ["_"]
    if record:
        return directory.joinpath(*parts, _UNSAFE.sub("_", record) + extension)
    return directory.joinpath(*parts[:-1], parts[-1] + extension)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either the old content or all of the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def dumps(record: Record, *, pretty: bool = False) -> bytes:
    """One record as JSON; a cache hit is already in JSON form and serializes to the same bytes."""
    if isinstance(record, CachedReport):
        return record.dumps(pretty=pretty)
    return rp.dumps(record, pretty=pretty)


def encode(record: Record, fmt: str) -> bytes:
    """One record in the given format: pretty JSON, one JSON line, or an HTML page."""
    if fmt == "html" and isinstance(record, (rp.Report, CachedReport)):
        from brandscan.engine.render import render_html

        data = record.data if isinstance(record, CachedReport) else rp.to_dict(record)
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

    def write(self, record: Record) -> None:
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
        self.extension = ".html" if self.fmt == "html" else ".json"
        self.count = 0

    def write(self, record: Record) -> None:
        write_atomic(report_path(self.directory, record.source, self.extension), encode(record, self.fmt))
        self.count += 1

    def close(self) -> None:
        pass


class NullWriter:
    """Writes nothing: `--format summary-json` without a directory prints only the roll-up."""

    count = 0

    def write(self, record: Record) -> None:
        pass

    def close(self) -> None:
        pass
