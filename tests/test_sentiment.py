"""Aspect sentiment through the real shipped model: negation, contrast, intensifiers, attribution to
brands (explicit and linked mentions), the per-brand summary, and `eval absa` on a tiny fixture."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from brandscan.engine import report as report_types
from brandscan.engine.catalog import parse_catalog
from brandscan.engine.stages.mentions import aspect_lexicon
from brandscan.engine.stages.sentiment.head import AspectQuery, SentimentScorer
from brandscan.engine.stages.sentiment.opinions import (
    SentimentOptions,
    clause_of,
    find_opinions,
    sentence_segments,
    summarize_sentiment,
)
from brandscan.engine.text.passages import load_tokenizer, tokenize_document

FIXTURES = Path(__file__).parent / "fixtures" / "absa"
CATALOG = """
brands:
  - id: acme
    name: Acme
  - id: borealis
    name: Borealis
"""


@pytest.fixture(scope="module")
def loaded():  # type: ignore[no-untyped-def]
    from brandscan.engine.model.loader import load_model

    return load_model(threads=1)


@pytest.fixture(scope="module")
def scorer(loaded) -> SentimentScorer:  # type: ignore[no-untyped-def]
    from brandscan.engine.stages.load import load_scorer

    return load_scorer(loaded)


@pytest.fixture(scope="module")
def lexicon():  # type: ignore[no-untyped-def]
    return aspect_lexicon(parse_catalog(CATALOG, "test.yaml"))


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from brandscan.engine.model.loader import default_model_dir

    return load_tokenizer(default_model_dir() / "tokenizer.json")


def polarity(scorer: SentimentScorer, sentence: str, term: str) -> tuple[str, float]:
    start = sentence.index(term)
    result = scorer.score([AspectQuery(sentence, start, start + len(term))])[0]
    return result.polarity, result.score


def explicit(mid: str, brand: str, text: str, surface: str, occurrence: int = 0) -> report_types.Mention:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(surface, start + 1)
    return report_types.Mention(mid, brand, "explicit", start, start + len(surface), surface, 0)


def test_sentences_and_clauses() -> None:
    text = "Great boots. The price, however, was steep but fair!\nNew line here"
    segments = sentence_segments(text)
    assert [text[s.start : s.end] for s in segments] == [
        "Great boots.", "The price, however, was steep but fair!", "New line here"
    ]
    second = segments[1]
    clause = clause_of(text, second, text.index("price"))
    assert text[clause.start : clause.end] == "The price"
    clause = clause_of(text, second, text.index("fair"))
    assert text[clause.start : clause.end] == "but fair!"


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


def test_seed_example(scorer: SentimentScorer, lexicon, tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "I ordered from Acme. Excellent product quality, but the shipping delay was terrible."
    doc = tokenize_document(text, tokenizer)
    mentions = [explicit("m1", "acme", text, "Acme")]
    opinions = find_opinions(doc, mentions, lexicon, scorer)
    by_aspect = {o.aspect: o for o in opinions}
    assert by_aspect["product_quality"].polarity == "positive"
    assert by_aspect["product_quality"].aspect_span.text == "quality"
    assert by_aspect["shipping_delivery"].polarity == "negative"
    for o in opinions:
        assert o.brand == "acme" and o.mention == "m1"  # from the sentence before: lookback
        for span in (o.aspect_span, *o.opinion_spans):
            assert text[span.start : span.end] == span.text
    quality_words = {s.text.lower() for s in by_aspect["product_quality"].opinion_spans}
    assert "excellent" in quality_words
    summary = summarize_sentiment(opinions, text)
    rows = {row.aspect: row for row in summary["acme"][0]}
    assert rows["product_quality"].positive == 1 and rows["shipping_delivery"].negative == 1
    assert rows["product_quality"].strongest_positive is not None
    assert "Excellent" in rows["product_quality"].strongest_positive.text
    net = summary["acme"][1]
    assert net == pytest.approx(sum(o.score for o in opinions) / len(opinions))


def test_two_brands_one_sentence(scorer: SentimentScorer, lexicon, tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "Acme has a superb battery, while the Borealis battery is dreadful."
    doc = tokenize_document(text, tokenizer)
    mentions = [explicit("m1", "acme", text, "Acme"), explicit("m2", "borealis", text, "Borealis")]
    opinions = find_opinions(doc, mentions, lexicon, scorer)
    assert [(o.brand, o.aspect, o.polarity) for o in opinions] == [
        ("acme", "battery", "positive"),
        ("borealis", "battery", "negative"),
    ]
    summary = summarize_sentiment(opinions, text)
    assert summary["acme"][1] > 0 > summary["borealis"][1]


def test_negation_span_includes_the_negator(scorer: SentimentScorer, lexicon, tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "Acme support was not bad."
    doc = tokenize_document(text, tokenizer)
    opinions = find_opinions(doc, [explicit("m1", "acme", text, "Acme")], lexicon, scorer)
    (opinion,) = opinions
    assert opinion.polarity == "positive"
    assert "not bad" in [s.text for s in opinion.opinion_spans]


def test_linked_it_far_from_the_name(scorer: SentimentScorer, lexicon, tokenizer) -> None:  # type: ignore[no-untyped-def]
    filler = "We spent the week hiking in the hills and the weather was mild. " * 6
    text = f"Last spring I bought a tent from Acme.\n\n{filler}\n\nAfter a month it had a broken zip, and the price was a joke."
    doc = tokenize_document(text, tokenizer)
    start = text.index(" it ") + 1
    linked = report_types.Mention("m2", "acme", "pronoun", start, start + 2, "it", len(doc.passages) - 1, probability=0.87)
    opinions = find_opinions(doc, [explicit("m1", "acme", text, "Acme"), linked], lexicon, scorer)
    price = next(o for o in opinions if o.aspect == "price_value")
    assert price.brand == "acme" and price.mention == "m2" and price.polarity == "negative"
    assert price.evidence[0].text == "it"
    # Without the link the same opinion belongs to no brand: the name is passages away.
    alone = find_opinions(doc, [explicit("m1", "acme", text, "Acme")], lexicon, scorer)
    assert all(o.brand is None for o in alone if o.aspect == "price_value")
    # Brand-only mode does not score (nor report) what no mention can claim.
    claimed = find_opinions(doc, [explicit("m1", "acme", text, "Acme")], lexicon, scorer,
                            SentimentOptions(unattributed=False))
    assert claimed == () and len(alone) >= 2


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
    def op(i: int, brand: str | None, aspect: str, polarity: str, score: float, term: str, word: str, nth: int = 0):  # type: ignore[no-untyped-def]
        t = [j for j in range(len(text)) if text.startswith(term, j)][nth]
        w = text.index(word, t)
        return report_types.Opinion(f"o{i}", brand, aspect, polarity, score,  # type: ignore[arg-type]
                          report_types.Span(t, t + len(term), term), (report_types.Span(w, w + len(word), word),))
    opinions = [
        op(1, "acme", "battery", "positive", 0.9, "battery", "superb"),
        op(2, "acme", "battery", "negative", -0.5, "battery", "died", 1),
        op(3, "acme", "price_value", "neutral", 0.1, "price", "fair"),
        op(4, None, "price_value", "negative", -1.0, "price", "fair"),
    ]
    summary = summarize_sentiment(opinions, text)
    assert list(summary) == ["acme"]
    battery, price = summary["acme"][0]
    assert (battery.aspect, battery.positive, battery.negative, battery.neutral) == ("battery", 1, 1, 0)
    assert battery.mean_score == pytest.approx(0.2)
    assert battery.strongest_positive == report_types.Span(5, 22, "battery is superb")
    assert battery.strongest_negative is not None and battery.strongest_negative.text == "battery died"
    assert (price.neutral, price.strongest_positive, price.strongest_negative) == (1, None, None)
    assert summary["acme"][1] == pytest.approx((0.9 - 0.5 + 0.1) / 3)
