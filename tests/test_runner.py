"""The local backends: a process pool gives the serial run's reports in input order, also when a
worker process is killed in the middle of the run."""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from brandscan.engine import report as report_types
from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.run.runner import AnalyzerSpec, ProcessBackend, SerialBackend, run
from brandscan.engine.text.documents import Document, DocumentFailure

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
SENTENCES = [
    "I bought the Fjordline Shell Jacket from Norvik Outdoor last spring.",
    "The Aurora Airways flight was late and the crew was rude.",
    "My Kindle from Amazon died on the plane; Shell sold me a charger.",
]


def _items() -> list[Document | DocumentFailure]:
    items: list[Document | DocumentFailure] = []
    for i in range(8):
        text = "\n\n".join(f"Note {i}.{j}: {SENTENCES[(i + j) % 3]}" for j in range(30))
        items.append(Document(source=f"n{i}.txt", text=text, sha256=hashlib.sha256(text.encode()).hexdigest()))
    items.insert(2, DocumentFailure(source="bad.bin", error="binary file"))
    return items


def _comparable(records: list[report_types.Report | report_types.ErrorRecord]) -> list[dict]:
    out = []
    for record in records:
        data = report_types.to_dict(record)
        if "stats" in data:
            del data["stats"]["seconds"], data["stats"]["encoder_seconds"]
        out.append(data)
    return out


def test_a_pool_with_a_killed_worker_gives_the_serial_reports_in_order(caplog: pytest.LogCaptureFixture) -> None:
    spec = AnalyzerSpec(load_catalog(CATALOG), AnalyzerConfig(threads=1))
    serial = _comparable(list(run(_items(), SerialBackend(spec))))
    assert [r["source"] for r in serial][:4] == ["n0.txt", "n1.txt", "bad.bin", "n2.txt"]

    backend = ProcessBackend(spec, jobs=2)
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = backend.worker_pids()
            if pids:
                time.sleep(0.5)  # inside the model load or the first documents
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    with caplog.at_level(logging.WARNING, logger="brandscan.runner"):
        pooled = _comparable(list(run(_items(), backend)))
    killer.join()
    assert killed and pooled == serial  # nothing lost, nothing twice, same bytes
    assert any("worker process died" in r.getMessage() for r in caplog.records)
