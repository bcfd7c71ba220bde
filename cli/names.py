"""Output file names for `analyze -o DIR`: readable, inside DIR, short enough, and never shared.

The rule (README, "Output files"):
- A report is named after its input's path as given: `docs/a.txt` -> `DIR/docs/a.txt.json`. Under
  an absolute argument the path starts at the argument's last component (`/data/in` with
  `/data/in/x.txt` -> `DIR/in/x.txt.json`), so absolute paths are never re-created under DIR.
  A JSON Lines record is a file inside a folder named after its file (`feed.jsonl#42` ->
  `DIR/feed.jsonl/42.json`); stdin is `DIR/stdin.json`.
- Each component keeps `A-Z a-z 0-9 . _ -`; any other run of characters becomes `_`, `.` and `..`
  are dropped, and a component is cut at 120 characters. When any of that changed the name, it
  gets `~` and 10 hex digits of the sha256 of the input's exact identity before the extension
  (`docs/a b.txt` -> `docs/a_b.txt~20423391ae.json`). `~` is never kept by the first step, so such a name
  cannot be another input's unchanged name.
- Within one run, a name (compared case-insensitively, for case-insensitive file systems) that an
  earlier input already got is given the hash as well (`/a/x.txt` and `/b/x.txt` -> `x.txt.json`
  and `x.txt~<hash>.json`). So two inputs never share a file; the same input named twice does.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from brandscan.engine.text.inputs import STDIN, Origin

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# File systems allow 255 bytes per name; this leaves room for the hash and extension.
_MAX_PART = 120


def identity(origin: Origin) -> bytes:
    """The exact identity of an input: its file's bytes-level path, and the record within it."""
    try:
        path = os.fsencode(origin.path)
    except UnicodeEncodeError:
        path = origin.path.encode("utf-8", "surrogatepass")
    if origin.record is None:
        return b"file\0" + path
    return b"record\0" + path + b"\0" + origin.record.encode("utf-8", "surrogatepass")


def _relative(origin: Origin) -> str:
    if origin.path == STDIN:
        return "stdin"
    if os.path.isabs(origin.argument):
        anchor = os.path.dirname(os.path.normpath(origin.argument))
        return os.path.relpath(origin.path, anchor)
    return origin.path


def _clean(part: str) -> str:
    return _UNSAFE.sub("_", part)[:_MAX_PART] or "_"


def readable_parts(origin: Origin) -> tuple[list[str], bool]:
    """The sanitized path components of an input's name, and whether sanitizing changed anything."""
    raw = [p for p in _relative(origin).replace(os.sep, "/").split("/") if p not in ("", ".")]
    if origin.record is not None:
        raw.append(origin.record)
    kept = [p for p in raw if p != ".."]
    parts = [_clean(p) for p in kept] or ["_"]
    return parts, parts != raw


def _hashed(parts: list[str], origin: Origin) -> list[str]:
    digest = hashlib.sha256(identity(origin)).hexdigest()[:10]
    return [*parts[:-1], f"{parts[-1]}~{digest}"]


class Namer:
    """Names for the inputs of one run: the rule above, with the collisions of this run resolved."""

    def __init__(self, directory: Path, extension: str) -> None:
        self.directory = directory
        self.extension = extension
        self._taken: dict[str, bytes] = {}  # lower-cased relative name -> identity that has it

    def path(self, origin: Origin) -> Path:
        parts, changed = readable_parts(origin)
        if changed:
            parts = _hashed(parts, origin)
        me = identity(origin)
        key = "/".join(parts).lower()
        if self._taken.setdefault(key, me) != me:
            parts = _hashed(parts, origin)
            self._taken.setdefault("/".join(parts).lower(), me)
        return self.directory.joinpath(*parts[:-1], parts[-1] + self.extension)


def fallback_origin(source: str) -> Origin:
    """An origin for a record that came without one (a library caller): its source as a file path."""
    return Origin(source, source)
