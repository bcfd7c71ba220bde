"""The summary-json roll-up across reports."""
from __future__ import annotations

from brandscan.engine.rollup import Rollup


def _report(mentions: list[tuple[str | None, str]], opinions: list[tuple[str, str, str, float]], fired=()) -> dict:
    return {
        "source": "x",
        "stats": {"tokens": 100},
        "brands": [{"id": "acme", "name": "Acme Corp"}],
        "mentions": [{"brand": b, "kind": k} for b, k in mentions],
        "opinions": [{"brand": b, "aspect": a, "polarity": p, "score": s} for b, a, p, s in opinions],
        "fired": list(fired),
    }


def test_rollup_counts_documents_mentions_opinions_and_sentiment() -> None:
    rollup = Rollup()
    rollup.add(_report([("acme", "explicit"), ("acme", "pronoun"), (None, "nominal")],
                       [("acme", "delivery", "negative", -0.5)], fired=["unlinked>0"]))
    rollup.add(_report([("acme", "alias"), ("globex", "explicit")], [("acme", "price", "positive", 0.9)]))
    rollup.add({"source": "bad", "error": "binary file"})
    summary = rollup.to_dict()
    assert (summary["documents"], summary["failed"], summary["tokens"], summary["unlinked"]) == (3, 1, 200, 1)
    assert summary["fired"] == {"unlinked>0": 1}
    acme, globex = summary["brands"]
    assert acme["id"] == "acme" and acme["name"] == "Acme Corp" and acme["documents"] == 2
    assert acme["mentions"] == {"alias": 1, "explicit": 1, "pronoun": 1, "total": 3}
    assert (acme["explicit"], acme["linked"]) == (2, 1)
    assert acme["opinions"] == {"delivery": {"positive": 0, "negative": 1, "neutral": 0},
                                "price": {"positive": 1, "negative": 0, "neutral": 0}}
    assert acme["net_sentiment"] == 0.2
    assert globex["name"] == "globex" and globex["net_sentiment"] is None and globex["documents"] == 1
