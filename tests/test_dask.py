"""The Dask backend on a real LocalCluster (worker processes on loopback): same reports as a local
run, in input order, also when a worker is killed in the middle of the run."""
from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from brandscan.engine import report as report_types
from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.run.runner import AnalyzerSpec, SerialBackend, run
from brandscan.engine.text.documents import Document, DocumentFailure

distributed = pytest.importorskip("distributed")
from brandscan.engine.run.dask_backend import DaskBackend  # noqa: E402  (only once distributed is known to be there)

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
SENTENCES = [
    "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.",
    "The Aurora Airways flight was late and the crew was rude.",
    "Shell stations on the way; Norvik boots on my feet.",
    "My Kindle from Amazon died on the plane.",
]


def _documents(count: int, repeat: int) -> list[Document | DocumentFailure]:
    items: list[Document | DocumentFailure] = []
    for i in range(count):
        text = "\n\n".join(f"Day {i}.{j}: {SENTENCES[(i + j) % len(SENTENCES)]}" for j in range(repeat))
        items.append(Document(source=f"doc{i}.txt", text=text, sha256=hashlib.sha256(text.encode()).hexdigest()))
    items.insert(3, DocumentFailure(source="broken.bin", error="binary file"))
    return items


def _comparable(records: list[report_types.Report | report_types.ErrorRecord]) -> list[dict]:
    out = []
    for record in records:
        data = report_types.to_dict(record)
        if "stats" in data:
            del data["stats"]["seconds"], data["stats"]["encoder_seconds"]
        out.append(data)
    return out


@pytest.fixture(scope="module")
def spec() -> AnalyzerSpec:
    return AnalyzerSpec(load_catalog(CATALOG), AnalyzerConfig(threads=1))


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as local:
        yield local


@pytest.fixture(scope="module")
def local_reports(spec: AnalyzerSpec) -> list[dict]:
    return _comparable(list(run(_documents(6, 20), SerialBackend(spec))))


def test_cluster_reports_equal_the_local_run(cluster, spec: AnalyzerSpec, local_reports: list[dict]) -> None:  # type: ignore[no-untyped-def]
    backend = DaskBackend(spec, address=cluster.scheduler_address)
    records = list(run(_documents(6, 20), backend))
    assert _comparable(records) == local_reports
    assert [r["source"] for r in local_reports][:5] == ["doc0.txt", "doc1.txt", "doc2.txt", "broken.bin", "doc3.txt"]


def test_scheduler_file_and_a_killed_worker_lose_and_duplicate_nothing(
    cluster, spec: AnalyzerSpec, local_reports: list[dict], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import json

    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": cluster.scheduler_address}), encoding="utf-8")
    backend = DaskBackend(spec, scheduler_file=str(scheduler_file))
    from distributed import Client

    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        # Wait until a worker holds documents, then kill its process: its tasks must be rerun.
        with Client(cluster.scheduler_address, set_as_default=False) as observer:
            pids = observer.run(os.getpid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = [w for w, keys in observer.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
                time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    records = list(run(_documents(6, 20), backend))
    killer.join()
    assert killed, "no worker was ever busy"
    assert _comparable(records) == local_reports  # every document once, in order, same bytes


def test_the_cli_on_the_cluster_writes_what_a_local_run_writes(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from brandscan.cli.app import app

    folder = tmp_path / "in"
    folder.mkdir()
    for i, sentence in enumerate(SENTENCES):
        (folder / f"{i}.txt").write_text(f"{sentence}\n\n{SENTENCES[(i + 1) % 4]}", encoding="utf-8")

    def analyze(*options: str) -> list[dict]:
        result = CliRunner().invoke(app, ["analyze", str(folder), "-c", str(CATALOG), "--no-cache", *options])
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stdout.splitlines()]
        for record in records:
            del record["stats"]["seconds"], record["stats"]["encoder_seconds"]
        return records

    local = analyze("--jobs", "1")
    assert len(local) == 4 and local == analyze("--dask", cluster.scheduler_address)
