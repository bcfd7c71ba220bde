"""The cache never serves a wrong report, and a cache it cannot write or clean never fails a run.

Each forged entry below carries a valid checksum (recomputed the way the cache computes it), so only
the checks against the document and the report schema can refuse it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from brandscan.engine import report as report_types
from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.pipeline import Analyzer
from brandscan.engine.run.cache import CacheKeys, ReportCache, model_fingerprint
from brandscan.engine.run.runner import AnalyzerSpec, SerialBackend, run
from brandscan.engine.text.documents import Document

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
FIRST = "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.\n\nIt kept me dry."
SECOND = "The Aurora Airways flight was late, and the crew lost my bag."


def _doc(text: str, source: str) -> Document:
    return Document(source=source, text=text, sha256=hashlib.sha256(text.encode()).hexdigest())


@pytest.fixture(scope="module")
def spec() -> AnalyzerSpec:
    return AnalyzerSpec(load_catalog(CATALOG), AnalyzerConfig())


@pytest.fixture(scope="module")
def backend(spec: AnalyzerSpec) -> SerialBackend:
    return SerialBackend(spec)  # one model load for the module


@pytest.fixture(scope="module")
def keys(spec: AnalyzerSpec) -> CacheKeys:
    return CacheKeys(model=model_fingerprint(spec.config), config=Analyzer(spec.catalog, spec.config).config_digest())


def _entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / "reports" / key[:2] / f"{key[2:]}.json"


def _forge(path: Path, key: str, edit: Callable[[dict], None]) -> None:
    """Edit the stored entry at `path` and give it a checksum that passes, as a forger would."""
    header, payload = path.read_bytes().split(b"\n", 1)
    entry = orjson.loads(payload)
    edit(entry)
    payload = orjson.dumps(entry)
    checksum = hashlib.sha256(key.encode() + b"\n" + payload).hexdigest().encode()
    path.write_bytes(header.split(b" ")[0] + b" " + checksum + b"\n" + payload)


def _set_mention(field: str, value: object) -> Callable[[dict], None]:
    def edit(entry: dict) -> None:
        entry["report"]["mentions"][0][field] = value
    return edit


def _steal(entry: dict) -> None:  # replaced below by the other document's whole entry
    raise AssertionError


FORGERIES = {
    "schema-invalid mentions": lambda e: e["report"].__setitem__("mentions", "not a list"),
    "mention text edited": _set_mention("text", "Aurora Airways"),
    "mention brand edited": _set_mention("brand", "aurora-airways"),
    "mention kind outside the schema": _set_mention("kind", "rumour"),
    "span past the text": _set_mention("end", 10_000),
    "another document's sha256": lambda e: e["report"].__setitem__("sha256", "0" * 64),
    "inputs of another key": lambda e: e["inputs"].__setitem__("config", "0" * 64),
}


@pytest.mark.parametrize("forgery", [*FORGERIES, "entry copied from another document's key"])
def test_a_forged_entry_is_refused_with_one_warning_and_recomputed(
    tmp_path: Path, backend: SerialBackend, keys: CacheKeys, forgery: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache, first, second = ReportCache(tmp_path), _doc(FIRST, "first.txt"), _doc(SECOND, "second.txt")
    fresh = list(run([first, second], backend, cache, keys))
    path = _entry(tmp_path, keys.key(first))
    if forgery in FORGERIES:
        _forge(path, keys.key(first), FORGERIES[forgery])
    else:  # the whole entry of the other document, checksum recomputed for this key
        path.write_bytes(_entry(tmp_path, keys.key(second)).read_bytes())
        _forge(path, keys.key(first), lambda e: None)
    with caplog.at_level(logging.WARNING, logger="brandscan.cache"):
        again = list(run([first], backend, ReportCache(tmp_path), keys))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "recomputing first.txt" in warnings[0], warnings
    assert "checksum" not in warnings[0]  # refused by what the entry says, not by how it was stored
    assert isinstance(again[0], report_types.Report)  # recomputed, not served
    assert _stable(report_types.to_dict(again[0])) == _stable(report_types.to_dict(fresh[0]))
    served = ReportCache(tmp_path).get(keys.key(first), first)  # and stored again, correctly
    assert served is not None and _stable(served.data) == _stable(report_types.to_dict(fresh[0]))


def _stable(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    del data["stats"]["seconds"], data["stats"]["encoder_seconds"]
    return data


def _read_only(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the cache read-only: by its mode bits, and for root (whom mode bits do not stop) by
    failing the calls that would write or remove, as a read-only mount does."""
    for folder in [directory, *[p for p in directory.rglob("*") if p.is_dir()]]:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:
        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(Path, "unlink", refuse)
        monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_a_read_only_cache_with_a_corrupt_entry_warns_and_the_run_goes_on(
    tmp_path: Path, backend: SerialBackend, keys: CacheKeys, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = _doc(FIRST, "first.txt")
    [fresh] = run([first], backend, ReportCache(tmp_path), keys)
    path = _entry(tmp_path, keys.key(first))
    _forge(path, keys.key(first), FORGERIES["schema-invalid mentions"])
    _read_only(tmp_path, monkeypatch)
    try:
        cache = ReportCache(tmp_path)
        with caplog.at_level(logging.WARNING, logger="brandscan.cache"):
            [again] = run([first], backend, cache, keys)
    finally:
        for folder in [tmp_path, *[p for p in tmp_path.rglob("*") if p.is_dir()]]:
            folder.chmod(stat.S_IRWXU)
    warnings = [r.getMessage() for r in caplog.records]
    assert any("corrupt" in w and "cannot be removed" in w for w in warnings), warnings
    assert any("is not writable" in w for w in warnings) and not cache.writable
    assert _stable(report_types.to_dict(again)) == _stable(report_types.to_dict(fresh))


def test_summary_and_fail_on_never_see_a_schema_invalid_entry(tmp_path: Path) -> None:
    document = tmp_path / "review.txt"
    document.write_text(FIRST, encoding="utf-8")
    cache = tmp_path / "cache"
    args = [str(BRANDSCAN), "analyze", str(document), "-c", str(CATALOG), "--cache", str(cache), "--format", "jsonl"]
    cold = subprocess.run(args, capture_output=True, text=True)
    assert cold.returncode == 0, cold.stderr
    [path] = (cache / "reports").rglob("*.json")
    key = path.parent.name + path.stem
    _forge(path, key, FORGERIES["schema-invalid mentions"])
    warm = subprocess.run([*args, "--summary", "--fail-on", "mentions>1000"], capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    assert "is corrupt (invalid report: report.mentions: expected a list, got str)" in warm.stderr
    assert json.loads(warm.stdout)["mentions"] == json.loads(cold.stdout)["mentions"]
