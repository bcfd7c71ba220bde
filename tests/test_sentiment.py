"""The MAMS aspect-term polarity model (`eval absa`) through the real shipped weights: negation,
contrast, intensifiers, `eval absa` on a tiny fixture, reproducible training; the sentence and clause
layout and the per-brand summary the opinions use (tests/test_opinions.py runs the opinions)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from brandscan.engine import report as report_types
from brandscan.engine.stages.sentiment.head import AspectQuery, SentimentScorer
from brandscan.engine.stages.sentiment.layout import Segment, clause_segments, sentence_segments
from brandscan.engine.stages.sentiment.summary import summarize_sentiment

FIXTURES = Path(__file__).parent / "fixtures" / "absa"


@pytest.fixture(scope="module")
def loaded():  # type: ignore[no-untyped-def]
    from brandscan.engine.model.loader import load_model

    return load_model(threads=1)


@pytest.fixture(scope="module")
def scorer(loaded) -> SentimentScorer:  # type: ignore[no-untyped-def]
    from brandscan.engine.stages.load import load_scorer

    return load_scorer(loaded)


def polarity(scorer: SentimentScorer, sentence: str, term: str) -> tuple[str, float]:
    start = sentence.index(term)
    result = scorer.score([AspectQuery(sentence, start, start + len(term))])[0]
    return result.polarity, result.score


def test_sentences_and_clauses() -> None:
    text = "Great boots. The price, however, was steep but fair!\nNew line here"
    segments = sentence_segments(text)
    assert [text[s.start : s.end] for s in segments] == [
        "Great boots.", "The price, however, was steep but fair!", "New line here"
    ]
    clauses = clause_segments(text, segments[1])
    assert [text[c.start : c.end] for c in clauses] == ["The price", "however", "was steep", "but fair!"]
    assert clause_segments(text, Segment(0, 12)) == [Segment(0, 12)]


@pytest.mark.parametrize(
    ("sentence", "term", "expected"),
    [
        ("The food was not bad at all.", "food", "positive"),
        ("The service was not good.", "service", "negative"),
        ("Never again will I trust their delivery.", "delivery", "negative"),
        ("The staff were not unfriendly, just slow.", "staff", "negative"),
        ("The battery is great.", "battery", "positive"),
        ("The battery is terrible.", "battery", "negative"),
    ],
)
def test_negation(scorer: SentimentScorer, sentence: str, term: str, expected: str) -> None:
    assert polarity(scorer, sentence, term)[0] == expected


def test_contrast_splits_polarities(scorer: SentimentScorer) -> None:
    sentence = "The battery life is great, but the price is outrageous."
    assert polarity(scorer, sentence, "battery life")[0] == "positive"
    assert polarity(scorer, sentence, "price")[0] == "negative"
    flipped = "The price is outrageous, but the battery life is great."
    assert polarity(scorer, flipped, "battery life")[0] == "positive"
    assert polarity(scorer, flipped, "price")[0] == "negative"


@pytest.mark.parametrize(
    ("sentence", "term", "expected"),
    [
        ("The pasta was incredibly good.", "pasta", "positive"),
        ("The shipping was super fast.", "shipping", "positive"),
        ("The price was way too high.", "price", "negative"),
        ("The shipping was really slow.", "shipping", "negative"),
        ("The delivery was slightly late.", "delivery", "negative"),
        ("The battery life is not very good.", "battery life", "negative"),
        ("The battery life is hardly impressive.", "battery life", "negative"),
    ],
)
def test_intensifiers_and_downtoners(scorer: SentimentScorer, sentence: str, term: str, expected: str) -> None:
    assert polarity(scorer, sentence, term)[0] == expected


def test_intensified_praise_scores_above_faint_praise(scorer: SentimentScorer) -> None:
    # The score is p(positive) - p(negative): a lukewarm word leaves room for doubt, a strong one none.
    mild = polarity(scorer, "The waiter was okay.", "waiter")
    glowing = polarity(scorer, "The waiter was absolutely wonderful.", "waiter")
    assert glowing[0] == "positive" and glowing[1] > mild[1] + 0.2


def test_eval_absa_on_fixture(scorer: SentimentScorer, monkeypatch: pytest.MonkeyPatch) -> None:
    from brandscan.cli.eval_absa import register

    # The command loads the default model exactly as the `scorer` fixture did: reuse it (load is slow).
    monkeypatch.setattr("brandscan.engine.stages.load.load_sentiment", lambda *a, **k: scorer)

    app = typer.Typer()
    group = typer.Typer()
    register(group)
    app.add_typer(group, name="eval")
    result = CliRunner().invoke(app, ["eval", "absa", str(FIXTURES / "tiny_mams.xml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["terms"] == 6
    assert record["accuracy"] == 100.0 and record["macro_f1"] == 100.0
    assert record["confusion"] == [[2, 0, 0], [0, 1, 0], [0, 0, 3]]
    bad = CliRunner().invoke(app, ["eval", "absa", str(FIXTURES / "tiny_mams.xml"), "--format", "xml"])
    assert "expected one of: text, json" in str(bad.exception)


def test_training_is_reproducible_and_writes_a_card(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    from brandscan.training.sentiment import TrainConfig, train_sentiment

    mams = tmp_path / "mams" / "MAMS-ATSA"
    mams.mkdir(parents=True)
    for name in ("train.xml", "val.xml"):
        (mams / name).write_bytes((FIXTURES / "tiny_mams.xml").read_bytes())
    config = TrainConfig(seed=0, epochs=1, batch_sentences=3)  # one step: CPU time is scarce in CI
    outs = []
    for run in ("a", "b"):
        result = train_sentiment(tmp_path / "mams", tmp_path / run, config=config, command="test", log=lambda _: None)
        outs.append(result.out)
        assert result.figures["MAMS val"].n == 6
    for name in ("adapter.safetensors", "head.safetensors", "head.json", "adapter.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    card = (outs[0] / "TRAINING_CARD.md").read_text()
    assert "Seed 0; 1 epochs" in card and "| MAMS val | 6 |" in card and "`test`" in card
    # The trained adapter and head load back as `brandscan eval absa --head DIR` loads them.
    from brandscan.engine.stages.load import load_scorer

    trained = load_scorer(loaded, outs[0])
    assert len(trained.score([AspectQuery("The pasta was fine.", 4, 9)])) == 1


def test_summary_counts_means_and_evidence() -> None:
    text = "Acme battery is superb. Acme battery died. Acme price is fair enough, I guess, mostly."
    def op(i: int, brand: str | None, aspect: str, polarity: str, score: float, word: str, nth: int = 0):  # type: ignore[no-untyped-def]
        w = [j for j in range(len(text)) if text.startswith(word, j)][nth]
        name = {"battery": "battery", "price_value": "price and value"}[aspect]
        return report_types.Opinion(f"o{i}", brand, aspect, name, polarity, score, None,  # type: ignore[arg-type]
                                    (report_types.Span(w, w + len(word), word),))
    opinions = [
        op(1, "acme", "battery", "positive", 0.9, "is superb"),
        op(2, "acme", "battery", "negative", -0.5, "died"),
        op(3, "acme", "battery", "positive", 0.4, "superb"),
        op(4, "acme", "price_value", "neutral", 0.1, "fair enough"),
        op(5, None, "price_value", "negative", -1.0, "fair"),
    ]
    summary = summarize_sentiment(opinions)
    assert list(summary) == ["acme"]
    battery, price = summary["acme"][0]
    assert (battery.aspect, battery.name, battery.positive, battery.negative, battery.neutral) == (
        "battery", "battery", 2, 1, 0)
    assert battery.mean_score == pytest.approx(0.8 / 3)
    assert battery.strongest_positive == report_types.Span(13, 22, "is superb")
    assert battery.strongest_negative is not None and battery.strongest_negative.text == "died"
    assert (price.name, price.neutral, price.strongest_positive, price.strongest_negative) == (
        "price and value", 1, None, None)
    assert summary["acme"][1] == pytest.approx((0.9 - 0.5 + 0.4 + 0.1) / 4)
