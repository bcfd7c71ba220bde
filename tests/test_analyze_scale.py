"""`analyze` unattended: --jobs, --fail-on, --summary, summary-json, logging, Ctrl-C."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
SENTENCES = [
    "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.",
    "The Aurora Airways flight was late and the crew was rude.",
    "Shell stations on the way; Norvik boots on my feet.",
    "My Kindle from Amazon died on the plane.",
]


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(7):
        text = "\n\n".join(SENTENCES[(i + j) % 4] for j in range(i % 3 + 1))
        (folder / f"{i:02d}.txt").write_text(text, encoding="utf-8")
    (folder / "03b.txt").write_bytes(b"\x00\x01binary\x00" * 20)
    return folder


def brandscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BRANDSCAN), *args], capture_output=True, text=True, env=env, check=False)


def _records(stdout: str) -> list[dict]:
    records = [json.loads(line) for line in stdout.splitlines()]
    for record in records:
        if "stats" in record:
            del record["stats"]["seconds"], record["stats"]["encoder_seconds"]
    return records


def test_jobs_2_writes_what_jobs_1_writes_in_input_order(inputs: Path) -> None:
    one = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--no-cache", "--jobs", "1")
    two = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--no-cache", "--jobs", "2")
    assert one.returncode == two.returncode == 3  # the binary file
    assert _records(one.stdout) == _records(two.stdout)
    sources = [r["source"] for r in _records(two.stdout)]
    assert [Path(s).name for s in sources] == sorted(Path(s).name for s in sources) and len(sources) == 8


def test_gates_summary_and_roll_up_in_one_run(tmp_path: Path, inputs: Path) -> None:
    out, cache = tmp_path / "out", str(tmp_path / "cache")
    gates = ["--fail-on", "brand:amazon.mentions>0", "--fail-on", "unlinked>100"]
    done = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--jobs", "1", "-o", str(out), "--cache", cache,
                     "--format", "summary-json", "--summary", *gates)
    assert done.returncode == 3, done.stderr  # the binary input outranks the condition (docs/scale.md)
    reports = {p.name: json.loads(p.read_text()) for p in out.rglob("*.json")}
    assert len(reports) == 8
    for name, report in reports.items():
        has_amazon = any(m["brand"] == "amazon" for m in report.get("mentions", ()))
        assert report.get("fired", []) == (["brand:amazon.mentions>0"] if has_amazon else []), name
    summary = json.loads(done.stdout)  # the roll-up goes to stdout, the reports to the directory
    assert summary["schema"] == "brandscan.summary/1" and (summary["documents"], summary["failed"]) == (8, 1)
    by_id = {b["id"]: b for b in summary["brands"]}
    assert by_id["amazon"]["mentions"]["total"] == by_id["amazon"]["explicit"] >= 2
    assert summary["fired"] == {"brand:amazon.mentions>0": by_id["amazon"]["documents"]}
    assert "--fail-on brand:amazon.mentions>0: met in" in done.stderr and "Norvik Outdoor" in done.stderr
    (inputs / "03b.txt").unlink()
    met = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--jobs", "1", "--cache", cache, *gates)
    assert met.returncode == 1 and len(_records(met.stdout)) == 7  # all written, then exit 1
    quiet = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--jobs", "1", "--cache", cache,
                      "--fail-on", "brand:amazon.mentions>100")
    assert quiet.returncode == 0 and all(r["fired"] == [] for r in _records(quiet.stdout))


def test_fail_on_grammar_and_catalogue_errors_exit_2(inputs: Path) -> None:
    done = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--fail-on", "brand:norvik.negtive_share>0.3")
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "column 14 (at 'negtive_share>0.3'): unknown metric 'negtive_share'; expected one of:" in done.stderr
    unknown = brandscan("analyze", str(inputs), "-c", str(CATALOG), "--fail-on", "brand:acme.mentions==0")
    assert unknown.returncode == 2 and "no brand 'acme' in the catalogue; expected one of: amazon" in unknown.stderr


def test_stdout_carries_reports_only_and_warnings_are_one_line(tmp_path: Path, inputs: Path) -> None:
    # Noise from "libraries" during analysis: print(), a C-level write to fd 1, a Python warning.
    script = (
        "import os, sys, warnings\n"
        "from brandscan.engine import pipeline\n"
        "original = pipeline.Analyzer.analyze\n"
        "def noisy(self, document):\n"
        "    print('python noise'); os.write(1, b'C noise\\n')\n"
        "    warnings.warn('library says\\nhello', UserWarning)\n"
        "    return original(self, document)\n"
        "pipeline.Analyzer.analyze = noisy\n"
        "from brandscan.cli.app import main\n"
        f"sys.argv = ['brandscan', 'analyze', {str(inputs / '00.txt')!r}, {str(inputs / '01.txt')!r},"
        f" '-c', {str(CATALOG)!r}, '--jobs', '1', '--no-cache']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert len(_records(done.stdout)) == 2  # every line is a report
    assert "python noise" in done.stderr and "C noise" in done.stderr
    warning = [line for line in done.stderr.splitlines() if "library says" in line]
    assert len(warning) == 2 and warning[0].startswith("brandscan: warning: UserWarning: library says | hello (")


def test_log_level_filters_library_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import warnings

    from brandscan.engine.logs import configure_logging

    try:
        configure_logging(logging.ERROR)
        warnings.warn("quiet please", UserWarning, stacklevel=1)
        logging.getLogger("brandscan.test").error("two\nlines")
        configure_logging(logging.WARNING)
        warnings.warn("now shown", UserWarning, stacklevel=1)
    finally:
        configure_logging(logging.WARNING)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "quiet please" not in captured.err and "brandscan: error: two | lines\n" in captured.err
    assert "brandscan: warning: UserWarning: now shown (" in captured.err


# Writing to stdout goes through the same guarded section (tests/test_interrupt.py checks the guard
# in-process); one subprocess run with worker processes covers the signal path end to end.
@pytest.mark.parametrize(("to_directory", "jobs"), [(True, "2")])
def test_ctrl_c_leaves_whole_reports_and_exits_130(tmp_path: Path, to_directory: bool, jobs: str) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    long_text = "\n\n".join(SENTENCES * 60)
    for i in range(40):
        (folder / f"{i:03d}.txt").write_text(f"Document {i}.\n\n{long_text}", encoding="utf-8")
    out = tmp_path / "out"
    target = ["-o", str(out)] if to_directory else []
    stdout_path = tmp_path / "stdout.jsonl"
    with open(stdout_path, "wb") as stdout:
        process = subprocess.Popen(
            [str(BRANDSCAN), "analyze", str(folder), "-c", str(CATALOG), "--no-cache", "--jobs", jobs, *target],
            stdout=stdout, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            written = list(out.rglob("*.json")) if to_directory else stdout_path.read_bytes().count(b"\n")
            if written:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    if to_directory:
        files = [p for p in out.rglob("*") if p.is_file()]
        assert 1 <= len(files) < 40 and all(p.suffix == ".json" for p in files)  # no temporaries left
        for path in files:
            assert json.loads(path.read_text())["schema"] == "brandscan.report/2"
    else:
        lines = stdout_path.read_bytes().split(b"\n")
        assert lines[-1] == b"" and 1 <= len(lines) - 1 < 40
        assert all(json.loads(line)["mentions"] for line in lines[:-1])
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
