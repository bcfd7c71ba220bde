"""The report cache: hits, misses, invalidation, corruption, and byte-identical cached reports."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from brandscan.engine import report as report_types
from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.pipeline import Analyzer
from brandscan.engine.run.cache import (
    CachedReport,
    CacheKeys,
    ReportCache,
    default_cache_dir,
    model_fingerprint,
    report_from_dict,
)
from brandscan.engine.run.runner import AnalyzerSpec, SerialBackend, run
from brandscan.engine.text.documents import Document

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
TEXTS = [
    "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.\n\nIt kept me dry.",
    "The Aurora Airways flight was late, and the crew lost my bag.",
    "Shell stations on the way; Norvik boots on my feet.",
]


def _doc(text: str, source: str, warnings: tuple[str, ...] = ()) -> Document:
    return Document(source=source, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), warnings=warnings)


class CountingBackend(SerialBackend):
    """The real serial backend, counting how many documents reach it (cache misses)."""

    def __init__(self, spec: AnalyzerSpec) -> None:
        super().__init__(spec)
        self.submitted: list[str] = []

    def submit(self, document: Document):  # type: ignore[no-untyped-def]
        self.submitted.append(document.source)
        return super().submit(document)


@pytest.fixture(scope="module")
def spec() -> AnalyzerSpec:
    return AnalyzerSpec(load_catalog(CATALOG), AnalyzerConfig())


@pytest.fixture(scope="module")
def backend(spec: AnalyzerSpec) -> CountingBackend:
    return CountingBackend(spec)  # one Analyzer (and model load) for the whole module


def _keys(spec: AnalyzerSpec) -> CacheKeys:
    return CacheKeys(model=model_fingerprint(spec.config), config=Analyzer(spec.catalog, spec.config).config_digest())


def _without_seconds(record: report_types.Report) -> bytes:
    data = report_types.to_dict(record)
    del data["stats"]["seconds"], data["stats"]["encoder_seconds"]
    return json.dumps(data).encode()


def test_hits_are_byte_identical_to_fresh_reports_and_skip_the_backend(
    tmp_path: Path, spec: AnalyzerSpec, backend: CountingBackend
) -> None:
    cache, keys = ReportCache(tmp_path), _keys(spec)
    docs = [_doc(t, f"d{i}.txt") for i, t in enumerate(TEXTS)]
    backend.submitted.clear()
    cold = list(run(docs, backend, cache, keys))
    assert backend.submitted == ["d0.txt", "d1.txt", "d2.txt"] and cache.misses == 3
    # Same content under other names: served from the cache, with the new source.
    renamed = [dataclasses.replace(d, source=f"copy/{d.source}") for d in docs]
    warm = list(run(renamed, backend, cache, keys))
    assert backend.submitted == ["d0.txt", "d1.txt", "d2.txt"] and cache.hits == 3
    assert [r.source for r in warm] == ["copy/d0.txt", "copy/d1.txt", "copy/d2.txt"]
    for fresh, cached in zip(cold, warm):
        assert isinstance(cached, CachedReport)
        assert cached.dumps() == report_types.dumps(dataclasses.replace(fresh, source=cached.source))
        assert cached.dumps(pretty=True) == report_types.dumps(dataclasses.replace(fresh, source=cached.source), pretty=True)
        assert report_types.dumps(cached.report()) == cached.dumps()  # and back to dataclasses
        fired = ("unlinked>0",)
        assert cached.with_fired(fired).dumps() == report_types.dumps(dataclasses.replace(fresh, source=cached.source, fired=fired))
    assert cold[0].mentions and cold[0].model is not None  # a real report, not an empty shell


def test_round_trip_keeps_every_field(spec: AnalyzerSpec, backend: CountingBackend) -> None:
    report = backend.submit(_doc(TEXTS[0], "a.txt")).result()
    assert isinstance(report, report_types.Report)
    rebuilt = report_from_dict(report_types.to_dict(report))
    assert report_types.dumps(rebuilt) == report_types.dumps(report)  # floats were rounded once, so they stay put
    assert isinstance(rebuilt.mentions[0], report_types.Mention) and isinstance(rebuilt.brands, tuple)
    assert isinstance(rebuilt.model, report_types.ModelInfo) and isinstance(rebuilt.stats, report_types.Stats)
    linked = [m for m in rebuilt.mentions if m.attribution is not None]
    for mention in linked:  # nested dataclasses all the way down, once linking fills them
        assert isinstance(mention.attribution, report_types.Attribution)
        assert all(isinstance(a, report_types.Anchor) for a in mention.attribution.anchors)


def test_invalidation_by_config_catalogue_model_and_reader_warnings(tmp_path: Path, spec: AnalyzerSpec) -> None:
    keys = _keys(spec)
    doc = _doc(TEXTS[0], "a.txt")
    base = keys.key(doc)
    assert keys.key(dataclasses.replace(doc, source="b.txt")) == base  # the name does not matter
    assert keys.key(_doc(TEXTS[0] + " ", "a.txt")) != base
    assert keys.key(dataclasses.replace(doc, warnings=("1 invalid UTF-8 byte replaced",))) != base
    other_config = AnalyzerSpec(spec.catalog, spec.config.replace(global_budget=64))
    assert _keys(other_config).key(doc) != base
    assert _keys(AnalyzerSpec(spec.catalog, spec.config.replace(threads=1))).key(doc) == base  # threads: no effect
    edited = tmp_path / "brands.yaml"
    edited.write_text(CATALOG.read_text(encoding="utf-8").replace("Norvik Outdoors", "Norvik Outdoor Co"), encoding="utf-8")
    assert _keys(AnalyzerSpec(load_catalog(edited), spec.config)).key(doc) != base
    reformatted = tmp_path / "same.yaml"
    reformatted.write_text("# a comment\n" + CATALOG.read_text(encoding="utf-8"), encoding="utf-8")
    assert _keys(AnalyzerSpec(load_catalog(reformatted), spec.config)).key(doc) == base
    assert dataclasses.replace(keys, model="0" * 64).key(doc) != base


def test_a_changed_model_directory_changes_the_fingerprint(tmp_path: Path) -> None:
    from brandscan.engine.model.loader import default_model_dir

    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (model / name).symlink_to(default_model_dir() / name)
    if (default_model_dir() / "heads").is_dir():
        shutil.copytree(default_model_dir() / "heads", model / "heads")
    before = model_fingerprint(AnalyzerConfig(model=str(model)))
    assert before == model_fingerprint(AnalyzerConfig())  # same files, same fingerprint
    (model / "heads" / "retrained").mkdir(parents=True)
    (model / "heads" / "retrained" / "head.safetensors").write_bytes(b"trained head")
    assert model_fingerprint(AnalyzerConfig(model=str(model))) != before
    assert model_fingerprint(AnalyzerConfig(dtype="float32")) != before


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_corrupt_entry_is_reported_removed_and_recomputed(
    tmp_path: Path, spec: AnalyzerSpec, backend: CountingBackend, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache, keys = ReportCache(tmp_path), _keys(spec)
    doc = _doc(TEXTS[1], "b.txt")
    [fresh] = run([doc], backend, cache, keys)
    [entry] = list((tmp_path / "reports").rglob("*.json"))
    data = entry.read_bytes()
    if damage == "flip":  # one byte of the payload changed, still valid JSON
        data = data.replace(b'"Aurora Airways"', b'"Aurora Airwayz"', 1)
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = b"not a cache entry"
    entry.write_bytes(data)
    backend.submitted.clear()
    with caplog.at_level(logging.WARNING, logger="brandscan.cache"):
        [again] = run([doc], backend, cache, keys)
    assert backend.submitted == ["b.txt"] and cache.corrupt == 1
    assert any("corrupt" in r.getMessage() and str(entry) in r.getMessage() for r in caplog.records)
    assert _without_seconds(again) == _without_seconds(fresh)
    assert b"Airwayz" not in report_types.dumps(again)
    assert ReportCache(tmp_path).get(keys.key(doc), doc) is not None  # rewritten, and good again


def test_default_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BRANDSCAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "brandscan"
    monkeypatch.setenv("BRANDSCAN_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_a_warm_cli_run_never_imports_torch(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, text in enumerate(TEXTS):
        (inputs / f"{i}.txt").write_text(text, encoding="utf-8")
    args = ["analyze", str(inputs), "-c", str(CATALOG), "--jobs", "1", "--cache", str(tmp_path / "cache"),
            "--log-level", "info"]
    probe = (
        "import sys; from brandscan.cli.app import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "print('torch' in sys.modules, code, file=sys.stderr)"
    )
    cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert cold.stderr.strip().endswith("True 0") and "0 hits, 3 misses" in cold.stderr
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "3 hits, 0 misses" in warm.stderr, warm.stderr
    assert warm.stderr.strip().endswith("False 0")  # no model, not even torch
    strip = [json.loads(line) for line in cold.stdout.splitlines()], [json.loads(line) for line in warm.stdout.splitlines()]
    for records in strip:
        for record in records:
            del record["stats"]["seconds"], record["stats"]["encoder_seconds"]
    assert strip[0] == strip[1] and len(strip[0]) == 3


def test_an_unwritable_cache_is_reported_once_and_the_run_goes_on(
    tmp_path: Path, spec: AnalyzerSpec, backend: CountingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be", encoding="utf-8")
    cache, keys = ReportCache(blocked), _keys(spec)
    with caplog.at_level(logging.WARNING, logger="brandscan.cache"):
        records = list(run([_doc(t, f"u{i}.txt") for i, t in enumerate(TEXTS)], backend, cache, keys))
    assert [r.source for r in records] == ["u0.txt", "u1.txt", "u2.txt"] and not cache.writable
    assert sum("is not writable" in r.getMessage() for r in caplog.records) == 1
