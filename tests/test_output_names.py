"""`analyze -o DIR`: one file per input, never one file for two inputs, named relative to the
argument given (issue 11, item 8). The inputs fail before the model runs (binary files, JSONL lines
without text): error records are named by the same rule as reports, and cost no model time."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
BINARY = b"\x00\x01\x02binary\x00" * 20


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BRANDSCAN), "analyze", *args, "-c", str(CATALOG)], capture_output=True,
                          text=True, cwd=cwd, check=False)


def written(out: Path) -> dict[str, str]:
    """Each output file (relative name) -> the source of the record in it."""
    return {p.relative_to(out).as_posix(): json.loads(p.read_bytes())["source"]
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_inputs_that_sanitize_alike_get_files_of_their_own(tmp_path: Path) -> None:
    d = tmp_path / "d"
    for name in ("a b.txt", "a_b.txt", "notes#1.txt", "notes/1.txt", "é.txt", "ü.txt", "Case.txt", "case.txt"):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(BINARY)
    lines = [{"id": "a/b"}, {"id": "a_b"}, {"id": "L6"}, {"x": 1}, {"x": 2}, {"x": 3}]  # line 6: no id
    (d / "feed.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    done = analyze("d", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 3
    files = written(out)
    sources = [json.loads(line)["source"] for line in analyze("d", cwd=tmp_path).stdout.splitlines()]
    assert len(sources) == len(set(sources)) == 14  # JSON Lines on stdout never repeats a source either
    assert sorted(files.values()) == sorted(sources)  # one file per input: none shared, none lost

    def digest(identity: bytes) -> str:
        return hashlib.sha256(identity).hexdigest()[:10]

    # Unchanged names stay as they are; a name that sanitizing changed carries a hash of its input.
    assert files["d/a_b.txt.json"] == "d/a_b.txt"
    assert files[f"d/a_b.txt~{digest(b'file' + bytes(1) + b'd/a b.txt')}.json"] == "d/a b.txt"
    assert files["d/notes/1.txt.json"] == "d/notes/1.txt"
    assert files[f"d/notes_1.txt~{digest(b'file' + bytes(1) + b'd/notes#1.txt')}.json"] == "d/notes#1.txt"
    assert files["d/feed.jsonl/a_b.json"] == "d/feed.jsonl#a_b"
    assert files["d/feed.jsonl/L6.json"] == "d/feed.jsonl#L6"  # the id "L6" (line 3) came first
    assert "d/feed.jsonl#L6~2" in files.values()  # the id-less line 6
    assert files["d/Case.txt.json"] == "d/Case.txt"  # and case-insensitive file systems are safe:
    assert [n for n, s in files.items() if s == "d/case.txt"][0].startswith("d/case.txt~")
    # The same inputs give the same names in every run.
    again = tmp_path / "again"
    analyze("d", "-o", str(again), cwd=tmp_path)
    assert written(again) == files


def test_the_readme_example_name(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a b.txt").write_bytes(BINARY)
    analyze("docs/a b.txt", "-o", "DIR", cwd=tmp_path)
    assert list(written(tmp_path / "DIR")) == ["docs/a_b.txt~20423391ae.json"]


def test_absolute_arguments_are_named_from_their_last_component(tmp_path: Path) -> None:
    for name in ("x/in/a.txt", "y/in/a.txt", "z/b.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(BINARY)
    out = tmp_path / "out"
    done = analyze(str(tmp_path / "x" / "in"), str(tmp_path / "y" / "in"), str(tmp_path / "z" / "b.txt"),
                   "-o", str(out), cwd=tmp_path)
    assert done.returncode == 3
    files = written(out)
    assert files.pop("in/a.txt.json") == str(tmp_path / "x" / "in" / "a.txt")
    assert files.pop("b.txt.json") == str(tmp_path / "z" / "b.txt")
    # The second in/a.txt is another input: it gets the hash, not the first one's file.
    [(name, source)] = files.items()
    assert name.startswith("in/a.txt~") and source == str(tmp_path / "y" / "in" / "a.txt")
