"""The report cache behind incremental runs (`--cache DIR`, `--no-cache`).

A report depends on the document text (and its reader warnings), the model (weights, config,
tokenizer, trained heads, and the dtype "auto" resolves to on this CPU), the resolved analyzer
config with the catalogue (`Analyzer.config_digest()`), the report schema, and the engine code
itself. The key hashes all of them, so a change to any one invalidates exactly the entries it
affects. Computing the key never imports torch or loads the model: a warm rerun reads files only.

Entries are JSON, never pickles, written atomically (temporary file + rename) behind a header line
with the payload's sha256. An entry that fails its checksum or does not parse is logged as one
warning, deleted and recomputed; it is never returned. The stored report has no `source` (the same
text may come from several files) and no `fired` (gates belong to the run); both are set on the way
out, so a cached report serializes byte for byte like a fresh one except for `stats.seconds`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import platform
import tempfile
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from . import report as rp
from .config import AnalyzerConfig
from .documents import Document

log = logging.getLogger("brandscan.cache")

CACHE_ENV = "BRANDSCAN_CACHE_DIR"
_FORMAT = b"brandscan-cache/1"
_ENGINE_DIR = Path(__file__).resolve().parent


def default_cache_dir() -> Path:
    """$BRANDSCAN_CACHE_DIR, else $XDG_CACHE_HOME/brandscan, else ~/.cache/brandscan."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "brandscan"


@cache
def _engine_digest() -> str:
    # Reports change when the engine's code changes; hashing its sources (a few hundred KB, about a
    # millisecond) keeps a cache valid across runs of one install and invalidates it on upgrade.
    # Training and evaluation code never runs during analysis, so editing it keeps the cache.
    digest = hashlib.sha256()
    for path in sorted(_ENGINE_DIR.rglob("*.py")):
        if path.relative_to(_ENGINE_DIR).parts[0] in ("training", "evaluation"):
            continue
        digest.update(path.relative_to(_ENGINE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def model_fingerprint(config: AnalyzerConfig) -> str:
    """What the model contributes to a report, computed from files without loading it."""
    from .models import registry

    directory = registry.resolve(config.model)
    digest = hashlib.sha256(registry.sha256_of(directory).encode())
    heads = directory / "heads"
    if heads.is_dir():  # trained linking/sentiment heads are not in the model sha256
        for path in sorted(p for p in heads.rglob("*") if p.is_file()):
            digest.update(path.relative_to(heads).as_posix().encode() + b"\0" + path.read_bytes())
    # dtype "auto" resolves per machine (bf16 only with native bf16 units); a shared cache directory
    # must not hand a float32 machine's report to a bf16 one.
    digest.update(f"{config.dtype}:{platform.machine()}:{_auto_bf16()}".encode())
    return digest.hexdigest()


def _auto_bf16() -> bool:
    from . import models

    probe = getattr(models, "_cpu_has_bf16_units", None)
    return bool(probe()) if probe is not None else False


@dataclass(frozen=True)
class CacheKeys:
    """Everything but the document that a key covers; build once per run, in the main process."""

    model: str  # model_fingerprint()
    config: str  # Analyzer.config_digest(): resolved config and catalogue sha256

    def key(self, document: Document) -> str:
        parts = [_FORMAT.decode(), rp.SCHEMA, _engine_digest(), self.model, self.config, document.sha256,
                 *document.warnings]
        return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class ReportCache:
    """Reports stored by key under `directory`; safe for several processes writing at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        self.writable = True  # false after a failed write: the run goes on without storing

    def _path(self, key: str) -> Path:
        return self.directory / "reports" / key[:2] / f"{key[2:]}.json"

    def get(self, key: str, document: Document) -> CachedReport | None:
        """The cached report for `document`, or None (a miss, or a corrupt entry now removed)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as error:  # unreadable (permissions, I/O error): analyze instead
            self.misses += 1
            log.warning("cache entry %s cannot be read (%s); recomputing %s", path, error.strerror, document.source)
            return None
        try:
            fields = _decode(data)
        except ValueError as problem:
            self.corrupt += 1
            self.misses += 1
            log.warning("cache entry %s is corrupt (%s); recomputing %s", path, problem, document.source)
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        fields["source"] = document.source  # same key, same place: serializes like a fresh report
        return CachedReport(fields)

    def put(self, key: str, report: rp.Report) -> None:
        """Store `report` (its source and fired conditions are not kept). A cache that cannot be
        written (read-only or full disk) is reported once and then left alone: the run goes on."""
        if not self.writable:
            return
        payload = orjson.dumps(rp.to_dict(dataclasses.replace(report, source="", fired=())))
        entry = _FORMAT + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".entry.", suffix=".tmp", dir=path.parent)
        except OSError as error:
            self.writable = False
            log.warning("cache %s is not writable (%s); this run stores no reports", self.directory, error.strerror)
            return
        try:
            # No fsync: a torn entry after a crash fails its checksum and is recomputed, and syncing
            # every entry would cost more than the cache saves on small documents.
            with os.fdopen(handle, "wb") as stream:
                stream.write(entry)
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            self.writable = False
            log.warning("cache %s is not writable (%s); this run stores no reports", self.directory, error.strerror)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _decode(data: bytes) -> dict[str, Any]:
    header, newline, payload = data.partition(b"\n")
    magic, _, checksum = header.partition(b" ")
    if not newline or magic != _FORMAT:
        raise ValueError("unknown entry format")
    if hashlib.sha256(payload).hexdigest().encode() != checksum:
        raise ValueError("checksum mismatch")
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"unreadable report: {error}") from None
    if not isinstance(fields, dict) or fields.get("schema") != rp.SCHEMA or not _REPORT_KEYS <= fields.keys():
        raise ValueError("not a report")
    return fields


_REPORT_KEYS = frozenset({"schema", "source", "sha256", "model", "config", "stats", "fired"})


@dataclass(frozen=True)
class CachedReport:
    """A report served from the cache, kept in its JSON form (`report.to_dict`).

    Rebuilding a long document's thousand nested dataclasses only to serialize them again costs more
    than reading the entry (about 60 ms against 3 ms for a 5k-token report), and a warm rerun must
    take seconds; `report()` rebuilds the dataclasses for whoever needs them.
    """

    data: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.data["source"])

    def with_fired(self, fired: tuple[str, ...]) -> CachedReport:
        return CachedReport({**self.data, "fired": list(fired)})  # "fired" keeps its place

    def dumps(self, *, pretty: bool = False) -> bytes:
        """The same bytes as `report.dumps` of the report it stands for."""
        return orjson.dumps(self.data, option=orjson.OPT_INDENT_2 if pretty else 0)

    def report(self) -> rp.Report:
        return report_from_dict(self.data)


def report_from_dict(data: dict[str, Any]) -> rp.Report:
    """Rebuild a Report from its JSON form (`report.to_dict`), nested dataclasses included."""
    return typing.cast(rp.Report, _build(rp.Report, data))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(kind: Any, value: Any) -> Any:
    """`value` (parsed JSON) as an instance of the annotation `kind`; scalars are kept as parsed so
    that re-serializing gives the same bytes."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        item = typing.get_args(kind)[0]
        return tuple(_build(item, v) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}")
        hints = _hints(kind)
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        unknown = set(value) - names
        if unknown:
            raise TypeError(f"unexpected fields for {kind.__name__}: {sorted(unknown)}")
        return kind(**{name: _build(hints[name], v) for name, v in value.items()})
    return value
