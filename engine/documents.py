"""Read inputs into documents: .txt, .md, .html/.htm and .jsonl files, directories, and stdin ("-").

Each input becomes a `Document` or a `DocumentFailure` (one line saying what is wrong). Nothing a
user can cause escapes as an exception, so one bad file never stops a batch.

Decisions every offset in a report depends on:
- Bytes are UTF-8. A leading UTF-8 byte order mark is dropped. Each invalid byte becomes one
  U+FFFD and the document gets a warning with the count and the first offset (in file bytes).
- Line endings are normalized: CRLF and lone CR become LF, so that passages split at "\\n\\n" on
  files from any platform. `Document.text` is that normalized text; every offset refers to it,
  and `sha256` is computed over it.
- .html/.htm become their visible text (see `html_text`); .md is kept verbatim, markup included;
  .jsonl gives one document per non-blank line; any other extension, and stdin, is plain text.
- Binary input (a NUL byte in the first 8 KB, or more than 30% of it control characters or
  invalid UTF-8) is refused, as is UTF-16/32 (a UTF-16/32 byte order mark): analyzing it would
  only produce garbage.
- Directories are expanded recursively in a fixed order: each directory's files sorted by name,
  then its subdirectories sorted by name. Hidden entries (a name starting with ".") and symbolic
  links to directories are skipped; files named explicitly are always read.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import BinaryIO

from .errors import DocumentError
from .html_text import html_to_text

STDIN = "-"
DEFAULT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
_HTML_SUFFIXES = (".html", ".htm")
_JSONL_SUFFIX = ".jsonl"

_SNIFF_BYTES = 8192
_MAX_NON_TEXT = 0.30  # real text in any language stays far below this; binaries are far above
_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 LE/BE; UTF-32 LE starts with the first as well
# surrogateescape turns each undecodable byte into one lone surrogate in this range.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# Controls that never occur in text (tab, LF, CR and form feed do), plus undecodable bytes.
_NON_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]")
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class Document:
    """One input text. Every offset in a report refers to `text`."""

    source: str  # the path; "path.jsonl#<id>" (or "#L<line>" without an id) for a JSONL line; "-" for stdin
    text: str  # for HTML, the extracted visible text
    sha256: str  # hex sha256 of `text` encoded as UTF-8
    warnings: tuple[str, ...] = ()  # e.g. "3 invalid UTF-8 bytes replaced (first at byte 120)"


@dataclass(frozen=True)
class DocumentFailure:
    """An input that could not be read; it becomes an error record and the batch goes on."""

    source: str
    error: str  # one line, e.g. "binary file (NUL byte at byte 17), not a text document"


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are found and read."""

    glob: str | None = None  # for directories; None: *.txt *.md *.html *.htm *.jsonl, recursively
    jsonl_id: str = "id"  # JSONL field naming a record (string or integer); optional per line
    jsonl_text: str = "text"  # JSONL field holding the document text (a string); required
    max_bytes: int | None = None  # inputs larger than this become failures; None: no limit


def iter_sources(paths: Sequence[str], options: ReadOptions) -> Iterator[str | DocumentFailure]:
    """Every source named by `paths`, in order: directories expanded, "-" kept, missing paths failed."""
    for path in paths:
        if path == STDIN:
            yield path
            continue
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            broken = os.path.islink(path)
            yield DocumentFailure(path, "broken symbolic link" if broken else "no such file or directory")
            continue
        except OSError as error:
            yield DocumentFailure(path, f"cannot access: {error.strerror or error}")
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path, options.glob)
        else:
            yield path


def read_source(source: str, options: ReadOptions, stdin: BinaryIO | None = None) -> list[Document | DocumentFailure]:
    """The documents of one source: one for a file or stdin, one per line for a .jsonl file."""
    try:
        if source == STDIN:
            stream = stdin if stdin is not None else sys.stdin.buffer
            return [_text_document(source, _read_stream(stream, options.max_bytes), html=False)]
        data = _read_file(source, options.max_bytes)
        suffix = os.path.splitext(source)[1].lower()
        if suffix == _JSONL_SUFFIX:
            return _jsonl_documents(source, data, options)
        return [_text_document(source, data, html=suffix in _HTML_SUFFIXES)]
    except DocumentError as error:
        return [DocumentFailure(source, str(error))]


def iter_documents(
    paths: Sequence[str], options: ReadOptions, stdin: BinaryIO | None = None
) -> Iterator[Document | DocumentFailure]:
    """The documents of all `paths`, reading one source at a time so memory holds one source only."""
    for source in iter_sources(paths, options):
        if isinstance(source, DocumentFailure):
            yield source
        else:
            yield from read_source(source, options, stdin)


# -- finding files -------------------------------------------------------------------------------


def _walk(root: str, glob: str | None) -> Iterator[str | DocumentFailure]:
    errors: list[OSError] = []
    for top, dirs, files in os.walk(root, onerror=errors.append):
        yield from _listing_failures(errors, root)
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        relative_top = os.path.relpath(top, root).replace(os.sep, "/")
        for name in sorted(files):
            relative = name if relative_top == "." else f"{relative_top}/{name}"
            if not name.startswith(".") and _selected(name, relative, glob):
                yield os.path.join(top, name)
    yield from _listing_failures(errors, root)


def _listing_failures(errors: list[OSError], root: str) -> Iterator[DocumentFailure]:
    while errors:
        error = errors.pop(0)
        yield DocumentFailure(str(error.filename or root), f"cannot list directory: {error.strerror or error}")


def _selected(name: str, relative: str, glob: str | None) -> bool:
    if glob is None:
        return os.path.splitext(name)[1].lower() in DEFAULT_SUFFIXES
    if "/" not in glob:
        return fnmatchcase(name, glob)
    # A pattern with a directory part matches the path relative to the directory given; a leading
    # "**/" also matches at the top, as in shell globstar.
    return fnmatchcase(relative, glob) or (glob.startswith("**/") and fnmatchcase(relative, glob[3:]))


# -- bytes ---------------------------------------------------------------------------------------


def _read_file(path: str, max_bytes: int | None) -> bytes:
    try:
        with open(path, "rb") as file:
            return _read_stream(file, max_bytes)
    except IsADirectoryError:
        raise DocumentError("is a directory, not a document") from None
    except OSError as error:
        raise DocumentError(f"cannot read: {error.strerror or error}") from None


def _read_stream(stream: BinaryIO, max_bytes: int | None) -> bytes:
    try:
        # One byte past the limit tells "too large" apart without trusting a size from stat.
        data = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
    except OSError as error:
        raise DocumentError(f"cannot read: {error.strerror or error}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentError(f"larger than the limit of {max_bytes:,} bytes (max_bytes), not read")
    return data


def _refuse_binary(data: bytes) -> None:
    if data.startswith(_WIDE_BOMS):
        raise DocumentError("UTF-16/UTF-32 text (byte order mark); only UTF-8 is read, convert it first")
    head = data[:_SNIFF_BYTES]
    nul = head.find(b"\x00")
    if nul >= 0:
        raise DocumentError(f"binary file (NUL byte at byte {nul}), not a text document")
    sample = head.decode("utf-8", "surrogateescape")
    if sample:
        share = sum(1 for _ in _NON_TEXT.finditer(sample)) / len(sample)
        if share > _MAX_NON_TEXT:
            raise DocumentError(
                f"binary file ({share:.0%} of the first 8 KB is control bytes or invalid UTF-8), "
                "not a text document"
            )


def _decode(data: bytes, offset: int) -> tuple[str, list[str]]:
    """`data` (which starts at byte `offset` of its file) as normalized text, and its warnings."""
    text = data.decode("utf-8", "surrogateescape")
    warnings: list[str] = []
    first = _ESCAPED_BYTE.search(text)
    if first is not None:
        count = sum(1 for _ in _ESCAPED_BYTE.finditer(text))
        at = offset + len(text[: first.start()].encode("utf-8", "surrogateescape"))
        noun = "byte" if count == 1 else "bytes"
        warnings.append(f"{count} invalid UTF-8 {noun} replaced (first at byte {at})")
        text = _ESCAPED_BYTE.sub("\ufffd", text)
    return _normalize_newlines(text), warnings


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _without_bom(data: bytes) -> tuple[bytes, int]:
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM):], len(_UTF8_BOM)
    return data, 0


# -- documents -----------------------------------------------------------------------------------


def _document(source: str, text: str, warnings: list[str]) -> Document:
    if not text.strip():
        warnings.append("empty document")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(source=source, text=text, sha256=digest, warnings=tuple(warnings))


def _text_document(source: str, data: bytes, html: bool) -> Document:
    _refuse_binary(data)
    body, offset = _without_bom(data)
    text, warnings = _decode(body, offset)
    if html:
        text = html_to_text(text)
    return _document(source, text, warnings)


def _jsonl_documents(source: str, data: bytes, options: ReadOptions) -> list[Document | DocumentFailure]:
    _refuse_binary(data)
    body, offset = _without_bom(data)
    results: list[Document | DocumentFailure] = []
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(body.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        line, warnings = _decode(raw, start)
        results.append(_jsonl_record(source, number, line, warnings, options, first_line_of))
    if not results:
        return [_document(source, "", ["no JSON Lines records"])]
    return results


def _jsonl_record(
    source: str,
    number: int,
    line: str,
    warnings: list[str],
    options: ReadOptions,
    first_line_of: dict[str, int],
) -> Document | DocumentFailure:
    by_line = f"{source}#L{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return DocumentFailure(by_line, f"line {number}: invalid JSON: {error.msg} (column {error.colno})")
    if not isinstance(record, dict):
        return DocumentFailure(by_line, f"line {number}: expected a JSON object, got {_json_type(record)}")
    key = record.get(options.jsonl_id)
    if key is None:
        name = by_line
    elif isinstance(key, (str, int)) and not isinstance(key, bool):
        name = f"{source}#{key}"
    else:
        return DocumentFailure(
            by_line,
            f"line {number}: field {options.jsonl_id!r} must be a string or an integer, got {_json_type(key)}",
        )
    if options.jsonl_text not in record:
        return DocumentFailure(name, f"line {number}: missing text field {options.jsonl_text!r}")
    text = record[options.jsonl_text]
    if not isinstance(text, str):
        return DocumentFailure(
            name, f"line {number}: field {options.jsonl_text!r} must be a string, got {_json_type(text)}"
        )
    if name in first_line_of:
        # Sources must stay unique: reports and output files are named after them.
        warnings.append(f"duplicate id {key!r} (first on line {first_line_of[name]}), named by line instead")
        name = by_line
    else:
        first_line_of[name] = number
    return _document(name, _normalize_newlines(text), warnings)


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)
