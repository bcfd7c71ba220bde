"""The shipped examples, analyzed for real: every span in every report points at its text."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brandscan.engine import report as report_types
from brandscan.engine.catalog import load_catalog
from brandscan.engine.pipeline import Analyzer
from brandscan.engine.text.documents import Document, ReadOptions, iter_documents

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DOCUMENTS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".txt", ".md", ".html"} and p.name != "README.md")


@pytest.fixture(scope="module")
def analyzed() -> dict[str, tuple[Document, dict[str, Any]]]:
    analyzer = Analyzer(load_catalog(EXAMPLES / "brands.yaml"))
    results = {}
    for document in iter_documents([str(p) for p in DOCUMENTS], ReadOptions()):
        assert isinstance(document, Document), document
        results[Path(document.source).name] = (document, report_types.to_dict(analyzer.analyze(document)))
    return results


def _spans(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a report that carries start, end and text."""
    if isinstance(value, dict):
        if {"start", "end", "text"} <= value.keys():
            yield value
        for item in value.values():
            yield from _spans(item)
    elif isinstance(value, list):
        for item in value:
            yield from _spans(item)


def test_there_are_four_long_examples() -> None:
    assert [p.name for p in DOCUMENTS] == [
        "annual-report-excerpt.md",
        "earnings-call.txt",
        "forum-thread.html",
        "outdoor-gear-review-thread.txt",
    ]
    words = len((EXAMPLES / "outdoor-gear-review-thread.txt").read_text(encoding="utf-8").split())
    assert words >= 3000


def test_every_span_of_every_report_round_trips(analyzed: dict[str, tuple[Document, dict[str, Any]]]) -> None:
    checked = 0
    for document, report in analyzed.values():
        for span in _spans({k: v for k, v in report.items() if k != "text"}):
            assert document.text[span["start"] : span["end"]] == span["text"], span
            checked += 1
    assert checked > 200


def test_mentions_are_ordered_with_stable_ids(analyzed: dict[str, tuple[Document, dict[str, Any]]]) -> None:
    for _, report in analyzed.values():
        mentions = report["mentions"]
        assert [m["id"] for m in mentions] == [f"m{i}" for i in range(1, len(mentions) + 1)]
        assert [(m["start"], m["end"]) for m in mentions] == sorted((m["start"], m["end"]) for m in mentions)


def test_review_thread_finds_the_brands_it_talks_about(analyzed: dict[str, tuple[Document, dict[str, Any]]]) -> None:
    document, report = analyzed["outdoor-gear-review-thread.txt"]
    texts = {(m["text"], m["brand"]) for m in report["mentions"] if m["kind"] != "pronoun"}
    assert ("Norvik", "norvik") in texts and ("Kestrel & Finch", "kestrel-finch") in texts
    assert ("Trailblazer 2s", "norvik") in texts and ("@kestrelandfinch", "kestrel-finch") in texts
    # "Norvik's" and "Norvik-branded" give the bare name; near misses give nothing.
    possessive = document.text.index("Norvik's stitching")
    assert any(m["start"] == possessive and m["text"] == "Norvik" for m in report["mentions"])
    assert not any("lumen" in m["text"].lower() for m in report["mentions"])  # "300-lumen", no brand here


def test_html_example_offsets_refer_to_visible_text(analyzed: dict[str, tuple[Document, dict[str, Any]]]) -> None:
    document, report = analyzed["forum-thread.html"]
    assert "Orchard is terrible, buy Lumen Mobile!" not in document.text  # that was inside <script>
    assert any(m["text"] == "Lumen X2" for m in report["mentions"])
