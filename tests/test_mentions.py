"""Explicit mentions with the example catalogue, on a review written like real ones."""
from __future__ import annotations

from pathlib import Path

import pytest

from brandscan.engine.catalog import Catalog, load_catalog, parse_catalog
from brandscan.engine.stages.mentions import (
    ExplicitMention,
    aspect_lexicon,
    brand_lexicon,
    find_explicit,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "brands.example.yaml"

REVIEW = (
    "I bought the Norvik Outdoor Fjordline Shell Jacket and two pairs of Trailblazer 2s before a "
    "trip. Norvik’s stitching held up; the NORVIK-branded boots did not. Flew Aurora Airways: the "
    "aurora over Tromsø was lovely, Aurora lost my bag. Ordered a Kindle on Amazon, not in the "
    "amazon rainforest. An apple a day, says Apple; my iPhones agree. Shellfish at the Shell "
    "station. Ping @NorvikOutdoor or mail help@norvikoutdoor.com. The Halyards played; nvk is not NVK."
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLE)


def test_review_mentions_exact_spans_kinds_and_senses(catalog: Catalog) -> None:
    found = find_explicit(REVIEW, brand_lexicon(catalog), catalog)
    table = [(m.text, m.brand, m.kind, m.ambiguous) for m in found]
    assert table == [
        ("Norvik Outdoor", "norvik", "explicit", False),
        ("Fjordline Shell Jacket", "norvik", "product", False),
        ("Trailblazer 2s", "norvik", "product", False),
        ("Norvik", "norvik", "alias", False),
        ("NORVIK", "norvik", "alias", False),
        ("Aurora Airways", "aurora-air", "explicit", False),
        ("Aurora", "aurora-air", "alias", False),
        ("Kindle", "amazon", "product", False),
        ("Amazon", "amazon", "explicit", True),
        ("Apple", "apple", "explicit", True),
        ("iPhones", "apple", "product", False),
        ("Shell", "shell", "explicit", True),
        ("@NorvikOutdoor", "norvik", "handle", False),
        ("The Halyards", "halyards", "explicit", False),
        ("NVK", "norvik", "alias", False),
    ]
    for mention in found:
        assert REVIEW[mention.start:mention.end] == mention.text
    assert found[0] == ExplicitMention(13, 27, "Norvik Outdoor", "norvik", "explicit", False)
    assert REVIEW.index("Trailblazer 2s") == found[2].start and found[2].end - found[2].start == 14


def test_name_listed_as_alias_overrides_the_default_case_rule() -> None:
    text = """
brands:
  - id: amazon
    name: Amazon
    ambiguous: true
    aliases: [{text: Amazon, case_sensitive: false}]
"""
    catalog = parse_catalog(text, "c.yaml")
    found = find_explicit("AMAZON and amazon", brand_lexicon(catalog), catalog)
    assert [(m.text, m.kind) for m in found] == [("AMAZON", "explicit"), ("amazon", "explicit")]


def test_handles_match_in_any_case_products_carry_no_ambiguity(catalog: Catalog) -> None:
    found = find_explicit("Thanks @APPLE for the AirPods, #AmazonPrime.", brand_lexicon(catalog), catalog)
    assert [(m.text, m.brand, m.kind, m.ambiguous) for m in found] == [
        ("@APPLE", "apple", "handle", False),
        ("AirPods", "apple", "product", False),
        ("#AmazonPrime", "amazon", "handle", False),
    ]


def test_aspect_terms_match_with_plurals(catalog: Catalog) -> None:
    text = "The seams leaked in rain; customer  service and the couriers were slow, good value for money."
    matches = aspect_lexicon(catalog).find(text)
    assert [(m.text, m.key, m.kind) for m in matches] == [
        ("seams", "product_quality", "aspect"),
        ("leaked", "waterproofing", "aspect"),
        ("rain", "waterproofing", "aspect"),
        ("customer  service", "customer_service", "aspect"),
        ("couriers", "shipping_delivery", "aspect"),
        ("value for money", "price_value", "aspect"),
    ]


def test_brand_lexicon_ignores_aspect_matches_when_mixed(catalog: Catalog) -> None:
    # find_explicit reports brands only, whatever lexicon it is handed.
    assert find_explicit("the seams", aspect_lexicon(catalog), catalog) == []
