"""--fail-on: the grammar (with its error messages) and the metrics it reads from a report."""
from __future__ import annotations

import pytest

from brandscan.engine.gates import Condition, GateError, fired, metrics, parse_condition, parse_conditions


def _mention(brand: str | None, kind: str) -> dict:
    return {"brand": brand, "kind": kind}


def _opinion(brand: str | None, aspect: str, polarity: str, score: float) -> dict:
    return {"brand": brand, "aspect": aspect, "polarity": polarity, "score": score}


REPORT = {
    "source": "a.txt",
    "mentions": [
        _mention("acme", "explicit"), _mention("acme", "alias"), _mention("acme", "pronoun"),
        _mention("acme.co", "product"), _mention(None, "pronoun"), _mention(None, "nominal"),
    ],
    "opinions": [
        _opinion("acme", "delivery", "negative", -0.8), _opinion("acme", "price", "positive", 0.6),
        _opinion("acme", "delivery", "negative", -0.4), _opinion("acme.co", "price", "neutral", 0.0),
    ],
    "warnings": ["global budget reached"],
}


def test_document_metrics_follow_the_definitions() -> None:
    values = metrics(REPORT)
    assert values["mentions"] == 4 and values["explicit"] == 3 and values["linked"] == 1
    assert values["unlinked"] == 2 and values["warnings"] == 1 and values["errors"] == 0
    assert values["opinions"] == 4 and values["negative"] == 2 and values["negative_share"] == 0.5
    assert values["net_sentiment"] == pytest.approx((-0.8 + 0.6 - 0.4 + 0.0) / 4)


def test_brand_and_aspect_scopes() -> None:
    acme = metrics(REPORT, "acme")
    assert (acme["mentions"], acme["explicit"], acme["linked"], acme["opinions"]) == (3, 2, 1, 3)
    assert acme["negative_share"] == pytest.approx(2 / 3) and "unlinked" not in acme
    delivery = metrics(REPORT, "acme", "delivery")
    assert delivery["negative"] == 2 and delivery["positive_share"] == 0
    assert metrics(REPORT, None, "price")["opinions"] == 2
    absent = metrics(REPORT, "globex")
    assert absent["mentions"] == 0 and absent["negative_share"] == 0.0  # no opinions: shares are 0


def test_parse_examples_from_the_issue() -> None:
    assert parse_condition("brand:acme.negative_share>0.3") == Condition(
        text="brand:acme.negative_share>0.3", metric="negative_share", op=">", threshold=0.3, brand="acme"
    )
    assert parse_condition(" unlinked > 10 ").text == "unlinked > 10"
    assert parse_condition("brand:acme.mentions==0").op == "=="
    dotted = parse_condition("brand:acme.co.aspect:delivery.negative>=2")
    assert (dotted.brand, dotted.aspect, dotted.metric, dotted.threshold) == ("acme.co", "delivery", "negative", 2.0)
    assert parse_condition("aspect:price.net_sentiment<-.5").threshold == -0.5


def test_conditions_fire_in_the_order_given() -> None:
    conditions = parse_conditions(
        ["unlinked>10", "brand:acme.negative_share>0.5", "errors>0", "brand:globex.mentions==0", "mentions!=4"]
    )
    assert fired(REPORT, conditions) == ("brand:acme.negative_share>0.5", "brand:globex.mentions==0")
    error = {"source": "b.txt", "error": "binary file"}
    # An error record has no brands: only document metrics are measured on it.
    assert fired(error, conditions) == ("errors>0", "mentions!=4")


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("brand:acme.negtive_share>0.3", ("column 12 (at 'negtive_share>0.3'): unknown metric 'negtive_share'; "
                                          "expected one of: mentions, explicit, linked, opinions")),
        ("unlinked 10", "column 10 (at '10'): no comparison; expected one of: >=, <=, ==, !=, >, <"),
        ("unlinked>", "column 10 (at 'end of expression'): no number; expected a number"),
        ("unlinked>10x", "column 12 (at 'x'): unexpected text after the number; expected the end"),
        ("brand:acme.unlinked>1", "'unlinked' is not a metric of a brand; expected one of: mentions"),
        ("aspect:price.mentions>1", "'mentions' is not a metric of an aspect; expected one of: opinions"),
        ("company:acme.mentions>1", "column 1 (at 'company:acme.mentions>1'): unknown scope 'company:acme'"),
        ("brand:.mentions>1", "bad brand id ''"),
        ("", "empty condition"),
        (">3", "no metric"),
    ],
)
def test_grammar_errors_say_where_and_what_was_expected(expression: str, fragment: str) -> None:
    with pytest.raises(GateError) as caught:
        parse_condition(expression)
    message = str(caught.value)
    assert message.startswith(f"--fail-on {expression.strip()!r}: ") and fragment in message
    assert "\n" not in message


def test_unknown_catalogue_ids_are_errors() -> None:
    with pytest.raises(GateError, match=r"no brand 'acne' in the catalogue; expected one of: acme, globex"):
        parse_conditions(["brand:acne.mentions==0"], brand_ids=["acme", "globex"])
    with pytest.raises(GateError, match=r"no aspect 'shipping'"):
        parse_conditions(["aspect:shipping.negative>0"], brand_ids=["acme"], aspect_ids=["price"])
