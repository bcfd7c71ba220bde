"""Report files: safe paths per input, atomic writes that never leave a partial file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from brandscan.cli.output import report_path, write_atomic
from brandscan.engine import report as rp


def test_report_paths_stay_inside_the_directory(tmp_path: Path) -> None:
    assert report_path(tmp_path, "docs/a.txt", ".json") == tmp_path / "docs" / "a.txt.json"
    assert report_path(tmp_path, "/abs/x y.md", ".json") == tmp_path / "abs" / "x_y.md.json"
    assert report_path(tmp_path, "../../etc/passwd", ".json") == tmp_path / "etc" / "passwd.json"
    assert report_path(tmp_path, "feed.jsonl#42", ".json") == tmp_path / "feed.jsonl" / "42.json"
    assert report_path(tmp_path, "feed.jsonl#a/../b", ".json") == tmp_path / "feed.jsonl" / "a_.._b.json"
    assert report_path(tmp_path, "-", ".html") == tmp_path / "stdin.html"


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r" / "a.json"
    write_atomic(target, b"old report")
    assert target.read_bytes() == b"old report"

    def crash(source: str, destination: str) -> None:
        raise KeyboardInterrupt  # the run is interrupted between writing and renaming

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new report that never lands")
    assert target.read_bytes() == b"old report"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]  # no temporary left


def test_error_records_are_small_and_schema_tagged() -> None:
    record = rp.ErrorRecord(source="b.txt", error="binary file")
    assert rp.dumps(record) == b'{"schema":"brandscan.report/1","source":"b.txt","error":"binary file"}'
