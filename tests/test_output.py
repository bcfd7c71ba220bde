"""Report files: safe paths per input, atomic writes that never leave a partial file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from brandscan.cli.atomic import write_atomic
from brandscan.cli.names import Namer
from brandscan.engine import report as report_types
from brandscan.engine.text.inputs import Origin


def test_report_paths_stay_inside_the_directory(tmp_path: Path) -> None:
    def name(argument: str, path: str | None = None, record: str | None = None) -> str:
        found = Namer(tmp_path, ".json").path(Origin(argument, path or argument, record))
        return found.relative_to(tmp_path).as_posix()

    assert name("docs/a.txt") == "docs/a.txt.json"
    assert name("/abs", "/abs/x y.md").startswith("abs/x_y.md~")  # from the argument's last part on
    assert name("../../etc/passwd").startswith("etc/passwd~")  # ".." dropped: a change, so hashed
    assert name("feed.jsonl", record="42") == "feed.jsonl/42.json"
    assert name("feed.jsonl", record="a/../b").startswith("feed.jsonl/a_.._b~")
    assert Namer(tmp_path, ".html").path(Origin("-", "-")) == tmp_path / "stdin.html"


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
    record = report_types.ErrorRecord(source="b.txt", error="binary file")
    assert report_types.dumps(record) == b'{"schema":"brandscan.report/2","source":"b.txt","error":"binary file"}'
