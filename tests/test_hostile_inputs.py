"""Inputs a hostile or unlucky user gives `analyze` and `render` (issue 11): nothing injected into
HTML, no planted link followed, one bad input never costs the others, no blocking, clear exits.

Most cases use inputs that fail before the model runs (binary files, JSONL lines without text), so
they run in a fraction of a second; those that need a report analyze a sentence or two.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
PAYLOAD = "<img src=x onerror=alert(1)>"
BINARY = b"\x00\x01\x02binary\x00" * 20


def brandscan(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BRANDSCAN), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          check=False)


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# -- 1. HTML ---------------------------------------------------------------------------------------


def test_error_records_in_html_are_the_escaped_csp_page(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "f.jsonl").write_text(json.dumps({"id": PAYLOAD}) + "\n", encoding="utf-8")  # no text field
    (folder / f"{PAYLOAD}.txt").write_bytes(BINARY)  # a binary file whose name is the payload
    out = tmp_path / "out"
    done = brandscan("analyze", str(folder), "-c", str(CATALOG), "--format", "html", "-o", str(out))
    assert done.returncode == 3, done.stderr
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 2
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>")
        assert '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in html
        assert "<img" not in html and "\\u003cimg src=x onerror=alert(1)\\u003e" in html
    stdout = brandscan("analyze", str(folder / f"{PAYLOAD}.txt"), "-c", str(CATALOG), "--format", "html")
    assert stdout.returncode == 3 and "Content-Security-Policy" in stdout.stdout and "<img" not in stdout.stdout


# -- 2. temporary files, modes, leftovers -------------------------------------------------------------


def test_render_never_follows_a_link_planted_at_a_temporary_name(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"schema": "brandscan.report/2", "source": "a.txt", "error": "binary file"}))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".view.html.tmp").symlink_to(victim)  # the name render used to write through
    done = brandscan("render", str(report), "-o", str(tmp_path / "view.html"))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious"
    view = tmp_path / "view.html"
    assert not view.is_symlink() and "Content-Security-Policy" in view.read_text()
    assert view.stat().st_mode & 0o777 == umask_mode()


def test_reports_get_the_umask_mode_and_leftovers_of_killed_runs_are_removed(tmp_path: Path) -> None:
    from brandscan.cli.atomic import TEMP_PREFIX, TEMP_SUFFIX, _host

    (tmp_path / "b.txt").write_bytes(BINARY)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])  # its process id is surely free once it has been waited for
    dead.wait()
    ours_dead = out / f"{TEMP_PREFIX}{_host()}-{dead.pid}-k1ll3d{TEMP_SUFFIX}"
    ours_alive = out / f"{TEMP_PREFIX}{_host()}-{os.getpid()}-runn1ng{TEMP_SUFFIX}"  # a run still writing
    theirs = out / ".notes.txt.tmp"
    for leftover in (ours_dead, ours_alive, theirs):
        leftover.write_bytes(b"half a rep")
    done = brandscan("analyze", "b.txt", "-c", str(CATALOG), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 3
    assert (out / "b.txt.json").stat().st_mode & 0o777 == umask_mode()
    assert not ours_dead.exists() and ours_alive.exists() and theirs.exists()


# -- 3. names and text that cannot be written as they are -------------------------------------------


def test_undecodable_names_lone_surrogates_and_long_ids_cost_nobody_else(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.txt").write_text("Norvik Outdoor makes boots.", encoding="utf-8")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as file:
        file.write(b"Norvik boots again.")
    lines = [
        '{"id": "s", "text": "x \\ud800 Norvik"}',  # a lone surrogate in the text
        '{"id": "b\\udc00", "text": "Norvik"}',  # and in the id
        json.dumps({"id": "i" * 237, "text": "Norvik"}),  # an id longer than a file name may be
        json.dumps({"id": "z", "text": "Aurora Airways"}),
    ]
    (folder / "s.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    done = brandscan("analyze", "d", "-c", str(CATALOG), "--jobs", "1", "--no-cache", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = {r["source"]: r for r in records(done.stdout)}
    assert list(found) == ["d/a.txt", "d/caf\\xe9.txt", "d/s.jsonl#s", "d/s.jsonl#b\ufffd",
                           "d/s.jsonl#" + "i" * 237, "d/s.jsonl#z"]
    assert found["d/caf\\xe9.txt"]["warnings"] == [
        "the file name is not valid UTF-8: its undecodable bytes are shown as \\xNN"]
    assert found["d/s.jsonl#s"]["warnings"] == ["1 lone surrogate replaced by U+FFFD (first at offset 2)"]
    assert [m["text"] for m in found["d/s.jsonl#s"]["mentions"]] == ["Norvik"]
    assert found["d/s.jsonl#b\ufffd"]["warnings"][0].startswith("the id 'b\\udc00' has lone surrogates")

    written = brandscan("analyze", "d", "-c", str(CATALOG), "--jobs", "1", "-o", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == 6 and all(len(p.name.encode()) <= 255 for p in files)
    assert {json.loads(p.read_bytes())["source"] for p in files} == set(found)


# -- 4. FIFOs and --max-bytes ------------------------------------------------------------------------


def test_a_fifo_in_a_folder_is_skipped_and_max_bytes_limits_each_document(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")  # nobody ever writes to it: opening it would block forever
    (folder / "big.txt").write_bytes(BINARY * 2)
    (folder / "feed.jsonl").write_text('{"id": 1}\n' + json.dumps({"id": 2, "x": "y" * 100}) + "\n")
    done = brandscan("analyze", "d", "-c", str(CATALOG), "--max-bytes", "100", cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert [(r["source"], r["error"]) for r in records(done.stdout)] == [
        ("d/big.txt", "larger than the limit of 100 bytes (--max-bytes), not read"),
        ("d/feed.jsonl#1", "line 1: missing text field 'text'"),  # the limit is per line
        ("d/feed.jsonl#L2", "line 2: larger than the limit of 100 bytes (--max-bytes), not read"),
        ("d/pipe.txt", "not a regular file (a FIFO), skipped"),
    ]
    assert "brandscan: d/pipe.txt: not a regular file (a FIFO), skipped" in done.stderr
    help_text = brandscan("analyze", "--help").stdout
    assert "--max-bytes" in help_text and "16,000,000" in help_text


# -- 12. folders that match nothing; --glob and --exclude ---------------------------------------------


def test_nothing_to_analyze_exits_2_naming_what_matched_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(BINARY)
    empty = brandscan("analyze", "empty", "-c", str(CATALOG), cwd=tmp_path)
    assert (empty.returncode, empty.stdout) == (2, "")
    assert empty.stderr == (
        "brandscan: error: nothing to analyze: no files matching *.txt, *.md, *.html, *.htm, *.jsonl in empty\n")
    no_match = brandscan("analyze", "d", "--glob", "*.md", "-c", str(CATALOG), cwd=tmp_path)
    assert no_match.returncode == 2
    assert no_match.stderr == "brandscan: error: nothing to analyze: no files matching *.md in d\n"
    # One folder of two matching nothing is a warning; the other is analyzed.
    mixed = brandscan("analyze", "d", "empty", "-c", str(CATALOG), cwd=tmp_path)
    assert mixed.returncode == 3 and [r["source"] for r in records(mixed.stdout)] == ["d/a.txt"]
    assert "brandscan: warning: empty: no files matching *.txt" in mixed.stderr


def test_glob_is_repeatable_and_exclude_leaves_out_files_and_folders(tmp_path: Path) -> None:
    for name in ("a.txt", "b.md", "c.html", "notes.bak.txt", "drafts/d.txt", "keep/e.txt"):
        (tmp_path / "d" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / name).write_bytes(BINARY)  # error records: the sources are what counts
    done = brandscan("analyze", "d", "-c", str(CATALOG), "--glob", "*.txt", "--glob", "*.md",
                     "--exclude", "*.bak.txt", "--exclude", "drafts", cwd=tmp_path)
    assert [r["source"] for r in records(done.stdout)] == ["d/a.txt", "d/b.md", "d/keep/e.txt"]


# -- 13, 14. a closed pipe; a --fail-on hit -----------------------------------------------------------


def test_a_closed_pipe_ends_the_run_quietly_with_the_sigpipe_status(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.txt").write_text(f"Norvik Outdoor note {i}. " * 400, encoding="utf-8")
    pipeline = f"'{BRANDSCAN}' analyze d -c '{CATALOG}' --jobs 1 --no-cache | head -c 10 > /dev/null"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 141  # 128 + SIGPIPE, as for any command whose reader went away
    assert done.stderr == ""  # no traceback, no "Exception ignored" either


def test_a_fail_on_hit_says_which_conditions_fired_without_summary(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Norvik Outdoor makes boots.", encoding="utf-8")
    done = brandscan("analyze", "a.txt", "-c", str(CATALOG), "--no-cache", "--fail-on", "brand:norvik.mentions>0",
                     "--fail-on", "brand:shell.mentions>0", "--fail-on", "unlinked>=0", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "brandscan: --fail-on met: brand:norvik.mentions>0 (1 document); unlinked>=0 (1 document)\n"
    with_summary = brandscan("analyze", "a.txt", "-c", str(CATALOG), "--fail-on", "unlinked>=0", "--summary",
                             cwd=tmp_path)
    assert with_summary.returncode == 1
    assert re.findall(r".*unlinked>=0.*", with_summary.stderr) == ["--fail-on unlinked>=0: met in 1 document"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the workers")
def test_workers_die_with_a_parent_killed_with_sigkill(tmp_path: Path) -> None:
    import signal
    import time

    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.txt").write_text("Norvik Outdoor makes boots. " * 50, encoding="utf-8")
    parent = subprocess.Popen([str(BRANDSCAN), "analyze", str(folder), "-c", str(CATALOG), "--jobs", "2",
                               "--no-cache", "-o", str(tmp_path / "out")], stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == parent.pid and fields[0] != "Z":
                found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 60
    while len(children()) < 2 and time.monotonic() < deadline:  # the workers (and a resource tracker)
        time.sleep(0.05)
    workers = children()
    assert len(workers) >= 2, "the workers never started"
    time.sleep(0.5)  # into the model load
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_an_output_folder_that_cannot_be_written_is_a_user_error_not_a_bug(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(BINARY)
    (tmp_path / "taken").write_text("a file where the reports folder should go\n")
    result = brandscan("analyze", "d", "-c", str(CATALOG), "-o", "taken", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "brandscan: error: -o taken: exists and is not a folder\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d").write_text("a file where a sub-folder of reports should go\n")
    blocked = brandscan("analyze", "d", "-c", str(CATALOG), "-o", "out", cwd=tmp_path)
    assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
    assert blocked.stderr.endswith("brandscan: error: -o out: cannot write out/d/a.txt.json: File exists\n")
