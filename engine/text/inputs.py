"""The plain values that flow from the readers to the analyzer: documents, failures, read options.

`sources.py` finds the inputs a list of paths names; `documents.py` reads each into these values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STDIN = "-"
DEFAULT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
# Larger documents are refused (an error record each) rather than read: one of 16 MB is about 4M
# tokens, over 12 GB of encoder memory. `--max-bytes` changes it; for JSON Lines it is per line.
DEFAULT_MAX_BYTES = 16_000_000


@dataclass(frozen=True)
class Origin:
    """Exactly where an input came from, so that two inputs can always be told apart (an output
    file is named after it). Not part of what a document is: documents compare without it."""

    argument: str  # the path argument it was found under, as given; "-" for stdin
    path: str  # the file as opened (undecodable bytes of its name as surrogate escapes); "-" for stdin
    record: str | None = None  # a JSON Lines record: its name in the source after "#" ("42", "L7")


@dataclass(frozen=True)
class Document:
    """One input text. Every offset in a report refers to `text`."""

    source: str  # the path; "path.jsonl#<id>" (or "#L<line>" without an id) for a JSONL line; "-" for stdin
    text: str  # for HTML, the extracted visible text
    sha256: str  # hex sha256 of `text` encoded as UTF-8
    warnings: tuple[str, ...] = ()  # e.g. "3 invalid UTF-8 bytes replaced (first at byte 120)"
    origin: Origin | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DocumentFailure:
    """An input that could not be read; it becomes an error record and the batch goes on."""

    source: str
    error: str  # one line, e.g. "binary file (NUL byte at byte 17), not a text document"
    origin: Origin | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are found and read."""

    globs: tuple[str, ...] = ()  # file patterns inside directories (any may match); () = DEFAULT_SUFFIXES
    excludes: tuple[str, ...] = ()  # files and directories inside directories to leave out
    jsonl_id: str = "id"  # JSONL field naming a record (string or integer); optional per line
    jsonl_text: str = "text"  # JSONL field holding the document text (a string); required
    max_bytes: int | None = DEFAULT_MAX_BYTES  # per document (JSONL: per line); None: no limit
