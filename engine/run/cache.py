"""The report cache behind incremental runs (`--cache DIR`, `--no-cache`).

A report depends on the document text (and its reader warnings), the model (weights, config,
tokenizer, trained heads, and the dtype "auto" resolves to on this CPU), the resolved analyzer
config with the catalogue (`Analyzer.config_digest()`), the report schema, and the engine code
itself. The key hashes all of them, so a change to any one invalidates exactly the entries it
affects. Computing the key never imports torch or loads the model: a warm rerun reads files only.

Entries are JSON, never pickles, written atomically (temporary file + rename) behind a header line
with a sha256 over the key and the payload. The payload holds the key's inputs beside the report. A
hit is served only when the entry passes its checksum, its inputs hash to the key asked for and name
this document, and the report passes report_check (types of every field, every span against the
document text, counts against mentions). Anything else is logged as one warning, deleted where the
cache allows it, and recomputed; it is never returned. A cache that cannot be read, written or
cleaned costs warnings, never the run. The stored report has no `source` (the same text may come
from several files) and no `fired` (gates belong to the run); both are set on the way out, so a
cached report serializes byte for byte like a fresh one except for `stats.seconds`.
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

from brandscan.engine import report as report_types
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.report_check import ReportProblem, check_report
from brandscan.engine.text.documents import Document

log = logging.getLogger("brandscan.cache")

CACHE_ENV = "BRANDSCAN_CACHE_DIR"
_FORMAT = b"brandscan-cache/2"
_ENGINE_DIR = Path(__file__).resolve().parent.parent


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
    # Training and evaluation live outside engine/ (they never run during analysis), so editing
    # them keeps the cache.
    digest = hashlib.sha256()
    for path in sorted(_ENGINE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_ENGINE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def model_fingerprint(config: AnalyzerConfig) -> str:
    """What the model contributes to a report, computed from files without loading it."""
    from brandscan.engine.model import registry

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
    from brandscan.engine.model import loader as models

    probe = getattr(models, "_cpu_has_bf16_units", None)
    return bool(probe()) if probe is not None else False


class CacheKey(str):
    """A key (hex sha256) that keeps what it hashes, so that an entry can store its own inputs."""

    inputs: dict[str, Any]

    def __new__(cls, inputs: dict[str, Any]) -> CacheKey:
        key = super().__new__(cls, _hash_inputs(inputs))
        key.inputs = inputs
        return key

    def __reduce__(self) -> tuple[type[CacheKey], tuple[dict[str, Any]]]:  # pickles with its inputs
        return CacheKey, (self.inputs,)


def _hash_inputs(inputs: dict[str, Any]) -> str:
    parts = [inputs["format"], inputs["schema"], inputs["engine"], inputs["model"], inputs["config"],
             inputs["document"], *inputs["warnings"]]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CacheKeys:
    """Everything but the document that a key covers; build once per run, in the main process."""

    model: str  # model_fingerprint()
    config: str  # Analyzer.config_digest(): resolved config and catalogue sha256

    def key(self, document: Document) -> CacheKey:
        return CacheKey({
            "format": _FORMAT.decode(), "schema": report_types.SCHEMA, "engine": _engine_digest(), "model": self.model,
            "config": self.config, "document": document.sha256, "warnings": list(document.warnings),
        })


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
            fields = _decode(data, key, document)
        except ValueError as problem:
            self.corrupt += 1
            self.misses += 1
            removed = ""
            try:
                path.unlink(missing_ok=True)
            except OSError as error:  # a read-only cache: the entry stays, and is refused each time
                removed = f"; it cannot be removed ({error.strerror})"
            log.warning("cache entry %s is corrupt (%s)%s; recomputing %s", path, problem, removed, document.source)
            return None
        self.hits += 1
        fields["source"] = document.source  # same key, same place: serializes like a fresh report
        return CachedReport(fields)

    def put(self, key: CacheKey, report: report_types.Report) -> None:
        """Store `report` (its source and fired conditions are not kept) with the key's inputs. A cache
        that cannot be written (read-only or full disk) is reported once and then left alone."""
        if not self.writable:
            return
        stored = report_types.to_dict(dataclasses.replace(report, source="", fired=()))
        payload = orjson.dumps({"inputs": key.inputs, "report": stored})
        entry = _FORMAT + b" " + _checksum(key, payload) + b"\n" + payload
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


def _checksum(key: str, payload: bytes) -> bytes:
    # Over the key too: an entry copied to another key's file fails here already.
    return hashlib.sha256(key.encode() + b"\n" + payload).hexdigest().encode()


def _decode(data: bytes, key: str, document: Document) -> dict[str, Any]:
    """The stored report for `document` under `key`, or ValueError saying why the entry is refused."""
    header, newline, payload = data.partition(b"\n")
    magic, _, checksum = header.partition(b" ")
    if not newline or magic != _FORMAT:
        raise ValueError("unknown entry format")
    if _checksum(key, payload) != checksum:
        raise ValueError("checksum mismatch")
    try:
        entry = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"unreadable report: {error}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("inputs"), dict) or not isinstance(entry.get("report"), dict):
        raise ValueError("not a cache entry")
    inputs, fields = entry["inputs"], entry["report"]
    try:
        inputs_key = _hash_inputs(inputs)
    except (KeyError, TypeError) as error:
        raise ValueError(f"unreadable key inputs ({error!r})") from None
    if inputs_key != key:
        raise ValueError("stored for another key")
    if inputs["document"] != document.sha256 or tuple(inputs["warnings"]) != tuple(document.warnings):
        raise ValueError("stored for another document")
    if fields.get("schema") != report_types.SCHEMA:
        raise ValueError("not a report of this schema")
    try:
        check_report(fields, document.text, document.sha256)
    except ReportProblem as problem:
        raise ValueError(f"invalid report: {problem}") from None
    if fields["config"] != inputs["config"] or fields["source"] or fields["fired"]:
        raise ValueError("invalid report: config, source or fired do not fit the entry")
    return fields


@dataclass(frozen=True)
class CachedReport:
    """A report kept in its JSON form (`report.to_dict`): one served from the cache, or a fresh one once
    the CLI's batch has built that form (cli/batch.py: built once, read by the writer and the roll-up).

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

    def report(self) -> report_types.Report:
        return report_from_dict(self.data)


def report_from_dict(data: dict[str, Any]) -> report_types.Report:
    """Rebuild a Report from its JSON form (`report.to_dict`), nested dataclasses included."""
    return typing.cast(report_types.Report, _build(report_types.Report, data))


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
