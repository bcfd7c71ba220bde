"""The shipped brand corpus (corpus/brands/): every document passes the checker, and the two splits
together hold what the linking and opinions work needs (issue: a brand corpus)."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from brandscan.engine.catalog import load_catalog
from brandscan.evaluation.corpus_check import check_corpus

CORPUS = Path(__file__).parents[1] / "corpus" / "brands"
SPLITS = ("train", "dev")
# Targets over train + dev together.
TARGETS = {"documents": 150, "words": 150_000, "long_documents": 30, "implicit": 3500, "distant": 1200,
           "nominal": 600, "non_brand": 500, "ambiguous_brand_uses": 800, "distractors": 3000, "opinions": 2500}


@pytest.fixture(scope="module")
def checks():
    return {split: check_corpus(CORPUS / split) for split in SPLITS}


def test_every_document_passes_the_checker(checks):
    for split, result in checks.items():
        assert result.problems == [], f"{split}: {result.problems[:5]}"


def test_the_corpus_meets_its_count_targets(checks):
    total = checks["train"].counts + checks["dev"].counts
    for key, target in TARGETS.items():
        assert total[key] >= target, f"{key}: {total[key]} < {target}"
    genres = checks["train"].genres + checks["dev"].genres
    assert len(genres) >= 12 and min(genres.values()) >= 6, genres


def test_dev_invents_no_brand_that_train_names():
    train = {b.id: b for b in load_catalog(CORPUS / "train" / "catalog.yaml").brands}
    dev = load_catalog(CORPUS / "dev" / "catalog.yaml").brands
    train_text = " ".join(p.read_text(encoding="utf-8") for p in (CORPUS / "train").glob("*.md"))
    leaked = Counter()
    for brand in dev:
        if brand.id in train:
            continue  # a real brand, used in both splits
        for name in (brand.name, *(a.text for a in brand.aliases)):
            if brand.ambiguous and " " not in name:
                continue  # "Lapwing" alone is also the bird; "Lapwing Air" is the invented name
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", train_text):
                leaked[brand.id] += 1
    assert not leaked, leaked
