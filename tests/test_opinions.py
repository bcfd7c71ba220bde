"""Opinions through the shipped model on real sentences: the issue 15 list ("seen on the shipped
examples"), several opinions per sentence, contrast and comparison, aspects by name, the summary."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.pipeline import Analyzer
from brandscan.engine.report import Opinion, Report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(load_catalog(EXAMPLES / "brands.yaml"), AnalyzerConfig(threads=1))


def _of(report: Report, brand: str) -> list[Opinion]:
    return [o for o in report.opinions if o.brand == brand]


def _in(report: Report, o: Opinion, fragment: str) -> bool:
    """Whether the opinion's expression lies in the sentence holding `fragment`."""
    start = report_text(report).index(fragment)
    return any(start <= s.start < start + len(fragment) for s in o.opinion_spans)


_TEXTS: dict[str, str] = {}


def report_text(report: Report) -> str:
    return _TEXTS[report.sha256]


def analyze(analyzer: Analyzer, text: str) -> Report:
    report = analyzer.analyze_text(text)
    _TEXTS[report.sha256] = text
    return report


# Items of the list the shipped head still gets wrong (strict: the test fails once they come
# out right, so the mark is removed then). Figures and causes: docs/sentiment.md, "Limits".
KNOWN_MISS = pytest.mark.xfail(strict=True, reason="issue 15 list item the shipped opinion head still misses")


def test_it_is_great_is_a_positive_overall_opinion(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "I have shopped at Basecamp Supply for years. It is great.")
    found = [o for o in _of(report, "basecamp-supply") if _in(report, o, "It is great.")]
    assert found and all(o.polarity == "positive" and o.score > 0.5 for o in found)
    assert found[0].aspect == "overall" and found[0].aspect_name == "overall" and found[0].aspect_span is None
    assert found[0].opinion_spans[0].text == "great"
    it = next(m for m in report.mentions if m.id == found[0].mention)
    assert it.text == "It" and it.kind == "pronoun"


def test_it_is_great_about_a_product_is_positive(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "I bought the Norvik Fjellpeak last spring. It is great.")
    found = [o for o in _of(report, "norvik") if _in(report, o, "It is great.")]
    assert found and all(o.polarity == "positive" and o.score > 0.5 for o in found)


@pytest.mark.parametrize(("text", "fragment", "polarity"), [
    ("I switched to Lumen Mobile last year and the Lumen X2 is a joy to use.", "a joy to use", "positive"),
    ("I ordered a jacket from Basecamp Supply. Would not buy again.", "Would not buy again", "negative"),
])
def test_opinions_without_an_aspect_term(analyzer: Analyzer, text: str, fragment: str, polarity: str) -> None:
    report = analyze(analyzer, text)
    found = [o for o in report.opinions if o.brand is not None and _in(report, o, fragment)]
    assert found and found[0].polarity == polarity


def test_service_that_replaced_the_laces_is_positive(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "Kestrel & Finch boots again. Their customer service replaced the laces for free.")
    found = _of(report, "kestrel-finch")
    assert found and all(o.polarity == "positive" for o in found)
    assert any(o.aspect == "customer_service" and o.aspect_name == "customer service" for o in found)


def test_lost_bag_and_lovely_crew_are_two_opinions_found(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "Flew Aurora Air to Tromsø. The airline lost my bag, but the crew were lovely.")
    spans = [o.opinion_spans[0].text for o in _of(report, "aurora-air")]
    assert "lost my bag" in spans and "lovely" in spans
    mentions = {m.id: m for m in report.mentions}
    # Both judge the linked nominal (its span is linking's: "The airline", or longer while issue 14's
    # noun-phrase ends are open), not the name in the sentence before.
    assert all(mentions[o.mention].kind == "nominal" and mentions[o.mention].text.startswith("The airline")
               for o in _of(report, "aurora-air"))


def test_lost_bag_and_lovely_crew_are_two_opinions(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "Flew Aurora Air to Tromsø. The airline lost my bag, but the crew were lovely.")
    found = _of(report, "aurora-air")
    assert {o.polarity for o in found} >= {"positive", "negative"}
    negative = next(o for o in found if o.polarity == "negative")
    assert "lost" in negative.opinion_spans[0].text


def test_a_battery_that_never_ran_flat_is_praised(analyzer: Analyzer) -> None:
    report = analyze(analyzer, "I have used the Lumen X2 on a two-week trek. The battery never ran flat once.")
    found = _of(report, "lumen-mobile")
    assert found and all(o.polarity == "positive" for o in found)
    assert any(o.aspect == "battery" for o in found)


def test_the_summit_of_snowdon_is_no_brand(analyzer: Analyzer) -> None:
    text = ("(To be clear, I mean the stove company. The summit of Snowdon is less reliable, especially the café "
            "up there, which was shut.)")
    report = analyze(analyzer, text)
    assert not [o for o in _of(report, "summit") if _in(report, o, "The summit of Snowdon is less reliable")]


@KNOWN_MISS  # "ve owned" (in "the best shell I've owned") remains
def test_spans_that_judge_nothing_are_not_opinions(analyzer: Analyzer) -> None:
    report = analyze(analyzer, (EXAMPLES / "outdoor-gear-review-thread.txt").read_text(encoding="utf-8"))
    # "'ve owned" and "ve owned" (a span may start inside "I've") both count as "owned"
    words = {re.sub(r"^'?ve ", "", s.text.lower().replace("’", "'")) for o in report.opinions for s in o.opinion_spans}
    assert not words & {"owned", "looks", "conditioning"}


@KNOWN_MISS  # "flawless" is Norvik's, but "started peeling" is not found
def test_comparison_in_one_sentence_judges_both_brands(analyzer: Analyzer) -> None:
    text = ("Norvik's stitching is flawless, whereas Kestrel & Finch's seams started peeling after one wet "
            "weekend.")
    report = analyze(analyzer, text)
    assert {o.polarity for o in _of(report, "norvik")} == {"positive"}
    assert {o.polarity for o in _of(report, "kestrel-finch")} == {"negative"}


def test_summary_names_aspects_and_keeps_strongest_expressions(analyzer: Analyzer) -> None:
    text = ("Flew Aurora Air to Tromsø. The airline lost my bag, but the crew were lovely. The fares were "
            "absurdly high for a two-hour flight.")
    report = analyze(analyzer, text)
    [brand] = [b for b in report.brands if b.id == "aurora-air"]
    assert brand.sentiment
    for row in brand.sentiment:
        opinions = [o for o in report.opinions if o.brand == "aurora-air" and o.aspect == row.aspect]
        assert row.positive + row.negative + row.neutral == len(opinions)
        assert row.name == opinions[0].aspect_name
        assert row.mean_score == pytest.approx(sum(o.score for o in opinions) / len(opinions))
        if row.strongest_negative is not None:
            assert row.strongest_negative.text == text[row.strongest_negative.start:row.strongest_negative.end]


def test_every_opinion_judges_a_reported_mention(analyzer: Analyzer) -> None:
    report = analyze(analyzer, (EXAMPLES / "outdoor-gear-review-thread.txt").read_text(encoding="utf-8"))
    mentions = {m.id: m for m in report.mentions}
    assert len(report.opinions) > 20
    for o in report.opinions:
        assert o.mention in mentions and mentions[o.mention].brand == o.brand
        assert -1.0 <= o.score <= 1.0
