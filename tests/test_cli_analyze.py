"""`brandscan analyze` as users run it: CliRunner in-process, and a real subprocess pipe."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandscan.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
REVIEW = (
    "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.\n\n"
    "Norvik's boots are fine too, but the Norvik-branded socks wore through. "
    "I ate an apple pie while waiting for the Aurora Airways flight.\n\n"
    "Shellfish for dinner; Shell stations on the way."
)
BRANDSCAN = Path(sys.executable).with_name("brandscan")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reports cached by one test (or by a user's own runs) must not answer another test.
    monkeypatch.setenv("BRANDSCAN_CACHE_DIR", str(tmp_path / "cache"))


def run(*args: str, input: str | bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), input=input)


@pytest.fixture()
def review(tmp_path: Path) -> Path:
    path = tmp_path / "review.txt"
    path.write_text(REVIEW, encoding="utf-8")
    return path


def test_one_document_gives_one_json_report_with_exact_spans(review: Path) -> None:
    result = run("analyze", str(review), "-c", str(CATALOG))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "brandscan.report/2"
    assert report["source"] == str(review)
    found = [(m["text"], m["brand"], m["kind"]) for m in report["mentions"]]
    assert found == [
        ("Fjordline Shell Jacket", "norvik", "product"),
        ("Norvik Outdoor", "norvik", "explicit"),
        ("Norvik", "norvik", "alias"),
        ("Norvik", "norvik", "alias"),
        ("Aurora Airways", "aurora-air", "explicit"),
        ("Shell", "shell", "explicit"),  # ambiguous: "Shell stations" is the brand, by the learned sense
    ]
    shell = report["mentions"][-1]
    assert shell["alternative"]["brand"] is None and shell["probability"] >= 0.5
    assert shell["attribution"]["evidence"]  # the words its attention row weighted most
    for mention in report["mentions"]:
        assert REVIEW[mention["start"] : mention["end"]] == mention["text"]
    assert [m["id"] for m in report["mentions"]] == [f"m{i}" for i in range(1, 7)]
    norvik = next(b for b in report["brands"] if b["id"] == "norvik")
    assert norvik["counts"] == {"alias": 2, "explicit": 1, "product": 1, "total": 4}
    assert report["model"]["name"] == "all-minilm-l6-v2" and report["model"]["window"] == 256
    assert report["stats"]["passages"] == 3 and report["stats"]["global_mentions"] == 6
    assert report["stats"]["global_tokens"] == 3 + 6  # three passage markers, six anchors
    assert "text" not in report


def test_stdout_pipes_into_a_json_reader(review: Path) -> None:
    pipeline = f"'{BRANDSCAN}' analyze '{review}' -c '{CATALOG}' | '{sys.executable}' -c 'import json,sys; print(len(json.load(sys.stdin)[\"mentions\"]))'"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"
    assert done.stderr == ""  # not a terminal: no progress, no summary


def test_reports_are_deterministic_but_for_seconds(review: Path) -> None:
    def without_seconds() -> dict:
        report = json.loads(run("analyze", str(review), "-c", str(CATALOG), "--no-cache").stdout)
        del report["stats"]["seconds"], report["stats"]["encoder_seconds"]
        return report

    assert without_seconds() == without_seconds()


def test_stdin_and_include_text(review: Path) -> None:
    result = run("analyze", "-", "-c", str(CATALOG), "--include-text", input=REVIEW.encode())
    report = json.loads(result.stdout)
    assert report["source"] == "-" and report["text"] == REVIEW


def test_a_batch_with_a_bad_file_writes_the_rest_and_exits_3(tmp_path: Path, review: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("Norvik Outdoor makes boots.", encoding="utf-8")
    (inputs / "b.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (inputs / "c.md").write_text("# Aurora Airways\n\nThe airline was late.", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(inputs), "-c", str(CATALOG), "-o", str(out)])
    assert result.exit_code == 3
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    prefix = "in"  # named from the absolute argument's last component on, not from /
    assert written == [f"{prefix}/a.txt.json", f"{prefix}/b.txt.json", f"{prefix}/c.md.json"]
    bad = json.loads((out / prefix / "b.txt.json").read_text())
    assert set(bad) == {"schema", "source", "error"} and "binary" in bad["error"]
    good = json.loads((out / prefix / "c.md.json").read_text())
    assert [(m["text"], m["brand"]) for m in good["mentions"]] == [
        ("Aurora Airways", "aurora-air"),
        ("The airline", "aurora-air"),  # a category nominal, linked
    ]
    assert "b.txt" in result.stderr and "Traceback" not in result.stderr


def test_several_documents_stream_as_json_lines(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = [{"id": "a", "text": "Norvik Outdoor"}, {"id": "b", "body": "no text field"}, {"id": "c", "text": "Aurora Airways"}]
    feed.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = run("analyze", str(feed), "-c", str(CATALOG))
    assert result.exit_code == 3
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == [f"{feed}#a", f"{feed}#b", f"{feed}#c"]
    assert "error" in records[1] and records[2]["mentions"][0]["brand"] == "aurora-air"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "expected one of: auto, json, jsonl, html, summary-json"),
        (["--dtype", "int3"], "expected one of: auto, float32, bfloat16, int8"),
    ],
)
def test_usage_errors_exit_2_with_one_line(review: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [str(BRANDSCAN), "analyze", str(review), "-c", str(CATALOG), *args], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1 and done.stdout == ""


def test_catalogue_errors_exit_2_naming_file_line_and_column(tmp_path: Path, review: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands:\n  - id: acme\n    name: Acme\n    colour: red\n", encoding="utf-8")
    done = subprocess.run([str(BRANDSCAN), "analyze", str(review), "-c", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith(f"brandscan: error: {bad}:4:5:") and "colour" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_catalogue_is_a_usage_error(review: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BRANDSCAN_CATALOG"}
    done = subprocess.run([str(BRANDSCAN), "analyze", str(review)], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "no brand catalogue" in done.stderr


def test_help_does_not_import_torch() -> None:
    probe = "import sys; import brandscan.cli.app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
    done = subprocess.run([str(BRANDSCAN), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("brandscan ")


def test_a_bug_is_not_mistaken_for_a_fired_condition(review: Path) -> None:
    # Exit 1 means "a --fail-on condition was met"; an unexpected exception must not look like it.
    probe = (
        "import sys; from brandscan.cli import app as a; "
        "a.app = lambda: (_ for _ in ()).throw(RuntimeError('boom')); a.main()"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 70
    assert "RuntimeError: boom" in done.stderr and "internal error" in done.stderr


def test_the_console_script_exits_with_each_code_and_every_report_written(tmp_path: Path, review: Path) -> None:
    # main() leaves without the interpreter's teardown when nothing is left running (cli/app.leave): every
    # report must still be on disk, whole, and each exit code the one the command chose.
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text(REVIEW, encoding="utf-8")
    (inputs / "b.txt").write_bytes(b"\x00\x01binary\x00" * 40)
    (inputs / "c.txt").write_text("Aurora Airways flew me home. The airline was late.", encoding="utf-8")
    out = tmp_path / "out"
    batch = subprocess.run([str(BRANDSCAN), "analyze", str(inputs), "-c", str(CATALOG), "-o", str(out), "--jobs", "2",
                            "--no-cache"], capture_output=True, text=True)
    assert batch.returncode == 3, batch.stderr
    reports = {p.name: json.loads(p.read_text()) for p in out.rglob("*.json")}
    assert set(reports) == {"a.txt.json", "b.txt.json", "c.txt.json"} and "error" in reports["b.txt.json"]
    assert len(reports["a.txt.json"]["mentions"]) == 6
    flagged = subprocess.run([str(BRANDSCAN), "analyze", str(review), "-c", str(CATALOG), "--fail-on", "mentions>0"],
                             capture_output=True, text=True)
    assert flagged.returncode == 1 and json.loads(flagged.stdout)["mentions"]
    first_lines = f"'{BRANDSCAN}' analyze '{review}' -c '{CATALOG}' | head -n 1"
    piped = subprocess.run(["bash", "-c", first_lines], capture_output=True, text=True)
    assert piped.stdout == "{\n" and "Traceback" not in piped.stderr and "Exception" not in piped.stderr


def test_leaving_skips_the_teardown_only_when_nothing_is_left_running() -> None:
    import threading

    from brandscan.cli.app import nothing_left_running

    assert nothing_left_running() is (threading.active_count() == 1)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not nothing_left_running()  # a thread still running: the normal exit joins it
    finally:
        stop.set()
        worker.join()
