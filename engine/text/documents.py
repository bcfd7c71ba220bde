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
- Lone surrogates (a JSON `\\ud800` escape without its pair) cannot be written as UTF-8: each
  becomes one U+FFFD, in the text and in a JSONL id, and the document gets a warning.
- A file name that is not valid UTF-8 is shown with `\\xNN` escapes in `source` (with a warning).
- Finding the files of a directory is `sources.py`'s job; the values are in `inputs.py`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import BinaryIO

from brandscan.engine.errors import DocumentError
from brandscan.engine.text.html_text import html_to_text
from brandscan.engine.text.inputs import (
    DEFAULT_SUFFIXES,
    STDIN,
    Document,
    DocumentFailure,
    Origin,
    ReadOptions,
)
from brandscan.engine.text.sources import display_path, iter_sources, sources_of

__all__ = ["DEFAULT_SUFFIXES", "STDIN", "Document", "DocumentFailure", "Origin", "ReadOptions",
           "iter_documents", "iter_sources", "read_source"]

_HTML_SUFFIXES = (".html", ".htm")
_JSONL_SUFFIX = ".jsonl"

_SNIFF_BYTES = 8192
_MAX_NON_TEXT = 0.30  # real text in any language stays far below this; binaries are far above
_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 LE/BE; UTF-32 LE starts with the first as well
# surrogateescape turns each undecodable byte into one lone surrogate in this range.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# What a JSON "\\ud800" escape without its pair leaves in a str: not encodable as UTF-8.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Controls that never occur in text (tab, LF, CR and form feed do), plus undecodable bytes.
_NON_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]")
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}


def read_source(
    source: str, options: ReadOptions, stdin: BinaryIO | None = None, argument: str | None = None
) -> list[Document | DocumentFailure]:
    """The documents of one source: one for a file or stdin, one per line for a .jsonl file.
    `argument`: the path argument the source was found under (default: the source itself)."""
    origin = Origin(source if argument is None else argument, source)
    shown = display_path(source)
    warnings = [] if shown == source else ["the file name is not valid UTF-8: its undecodable bytes are shown as \\xNN"]
    try:
        if source == STDIN:
            stream = stdin if stdin is not None else sys.stdin.buffer
            return [_text_document(origin, shown, _read_stream(stream, options.max_bytes), False, warnings)]
        suffix = os.path.splitext(source)[1].lower()
        if suffix == _JSONL_SUFFIX:
            # The limit is per record: a feed may be far larger than any one document in it.
            return _jsonl_documents(origin, shown, _read_file(source, None), options, warnings)
        data = _read_file(source, options.max_bytes)
        return [_text_document(origin, shown, data, suffix in _HTML_SUFFIXES, warnings)]
    except DocumentError as error:
        return [DocumentFailure(shown, str(error), origin=origin)]


def iter_documents(
    paths: Sequence[str], options: ReadOptions, stdin: BinaryIO | None = None
) -> Iterator[Document | DocumentFailure]:
    """The documents of all `paths`, reading one source at a time so memory holds one source only."""
    for argument in paths:
        for source in sources_of(argument, options):
            if isinstance(source, DocumentFailure):
                yield source
            else:
                yield from read_source(source, options, stdin, argument)


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
        raise DocumentError(f"larger than the limit of {max_bytes:,} bytes (--max-bytes), not read")
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


def _repair(text: str) -> tuple[str, int, int]:
    """`text` with each lone surrogate replaced by U+FFFD (same length, so offsets hold), the
    number replaced, and the offset of the first."""
    first = _LONE_SURROGATE.search(text)
    if first is None:
        return text, 0, -1
    count = sum(1 for _ in _LONE_SURROGATE.finditer(text))
    return _LONE_SURROGATE.sub("\ufffd", text), count, first.start()


def _document(origin: Origin, source: str, text: str, warnings: list[str]) -> Document:
    text, count, first = _repair(text)
    if count:
        noun = "surrogate" if count == 1 else "surrogates"
        warnings.append(f"{count} lone {noun} replaced by U+FFFD (first at offset {first})")
    if not text.strip():
        warnings.append("empty document")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(source=source, text=text, sha256=digest, warnings=tuple(warnings), origin=origin)


def _text_document(origin: Origin, source: str, data: bytes, html: bool, warnings: list[str]) -> Document:
    _refuse_binary(data)
    body, offset = _without_bom(data)
    text, decoding = _decode(body, offset)
    if html:
        text = html_to_text(text)
    return _document(origin, source, text, warnings + decoding)


def _jsonl_documents(
    origin: Origin, source: str, data: bytes, options: ReadOptions, warnings: list[str]
) -> list[Document | DocumentFailure]:
    _refuse_binary(data)
    body, offset = _without_bom(data)
    results: list[Document | DocumentFailure] = []
    taken: dict[str, int] = {}  # record name -> the line that has it
    for number, raw in enumerate(body.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        if options.max_bytes is not None and len(raw) > options.max_bytes:
            name = _claim(f"L{number}", number, taken, [])
            error = f"line {number}: larger than the limit of {options.max_bytes:,} bytes (--max-bytes), not read"
            results.append(DocumentFailure(f"{source}#{name}", error, origin=replace(origin, record=name)))
            continue
        line, decoding = _decode(raw, start)
        results.append(_jsonl_record(origin, source, number, line, warnings + decoding, options, taken))
    if not results:
        return [_document(origin, source, "", [*warnings, "no JSON Lines records"])]
    return results


def _claim(name: str, number: int, taken: dict[str, int], warnings: list[str]) -> str:
    """`name` for the record on line `number`, or `name~2`, `name~3`... when an earlier line has it:
    sources must stay unique, since reports and output files are named after them."""
    unique, k = name, 1
    while unique in taken:
        k += 1
        unique = f"{name}~{k}"
    if unique != name:
        warnings.append(f"{name!r} already names line {taken[name]}: named {unique!r} instead")
    taken[unique] = number
    return unique


def _jsonl_record(
    origin: Origin,
    source: str,
    number: int,
    line: str,
    warnings: list[str],
    options: ReadOptions,
    taken: dict[str, int],
) -> Document | DocumentFailure:
    def failure(name: str, error: str) -> DocumentFailure:
        return DocumentFailure(f"{source}#{name}", f"line {number}: {error}", origin=replace(origin, record=name))

    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return failure(_claim(f"L{number}", number, taken, []), f"invalid JSON: {error.msg} (column {error.colno})")
    if not isinstance(record, dict):
        return failure(_claim(f"L{number}", number, taken, []), f"expected a JSON object, got {_json_type(record)}")
    key = record.get(options.jsonl_id)
    if key is None:
        name = _claim(f"L{number}", number, taken, warnings)
    elif isinstance(key, (str, int)) and not isinstance(key, bool):
        name, count, _ = _repair(str(key))
        if count:
            warnings.append(f"the id {key!r} has lone surrogates: replaced by U+FFFD in the name")
        if name in taken:
            warnings.append(f"duplicate id {key!r} (first on line {taken[name]}), named by line instead")
            name = _claim(f"L{number}", number, taken, warnings)
        else:
            taken[name] = number
    else:
        name = _claim(f"L{number}", number, taken, [])
        return failure(name, f"field {options.jsonl_id!r} must be a string or an integer, got {_json_type(key)}")
    if options.jsonl_text not in record:
        return failure(name, f"missing text field {options.jsonl_text!r}")
    text = record[options.jsonl_text]
    if not isinstance(text, str):
        return failure(name, f"field {options.jsonl_text!r} must be a string, got {_json_type(text)}")
    return _document(replace(origin, record=name), f"{source}#{name}", _normalize_newlines(text), warnings)


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)
