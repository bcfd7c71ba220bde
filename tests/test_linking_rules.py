"""Each rule of stages/linking/rules.py on its own: the adjustment it makes and when it makes none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from brandscan.engine.catalog import load_catalog
from brandscan.engine.stages.candidates import Candidate
from brandscan.engine.stages.linking import rules
from brandscan.engine.stages.linking.head import FEATURES, LEARNED, Feature
from brandscan.engine.stages.mentions import ExplicitMention

CATALOG = load_catalog(Path(__file__).parent / "fixtures" / "brands_eval" / "catalog.yaml")


def pronoun(number: str) -> Candidate:
    return Candidate(0, 2, "it", "pronoun", number)


def test_number_penalty_only_where_the_numbers_disagree() -> None:
    got = rules.number_penalty(pronoun("singular"), ["singular", "plural", "singular"])
    assert got.tolist() == [0.0, -rules.NUMBER_PENALTY, 0.0]
    nominal = Candidate(0, 11, "the carrier", "nominal", "singular", brands=("delta",))
    assert rules.number_penalty(nominal, ["plural"]).tolist() == [0.0]


def test_form_bonus_for_a_catalogue_noun_only() -> None:
    nominal = Candidate(0, 11, "the carrier", "nominal", "singular", brands=("delta",))
    assert rules.form_bonus(nominal, 2).tolist() == [rules.FORM_BONUS] * 2
    any_brand = Candidate(0, 11, "the company", "nominal", "singular")
    assert rules.form_bonus(any_brand, 2).tolist() == [0.0, 0.0]
    assert rules.form_bonus(pronoun("singular"), 1).tolist() == [0.0]


def test_salience_bonus_for_the_only_brand_named_before() -> None:
    assert rules.salience_bonus([False, True, False]).tolist() == [0.0, rules.SALIENCE_BONUS, 0.0]
    assert rules.salience_bonus([True, True]).tolist() == [0.0, 0.0]
    assert rules.salience_bonus([False]).tolist() == [0.0]


def test_alias_sense_needs_one_hit_in_its_passage() -> None:
    brand = CATALOG.brands[0]
    word = sorted(rules.brand_words(CATALOG, brand.id))[0]
    text = f"{brand.name} said one thing. Later {word} came up."
    mention = ExplicitMention(0, len(brand.name), brand.name, brand.id, "alias", True)
    hits = rules.sense_hits(text, (0, len(text)), mention, CATALOG, [mention])
    assert hits >= 1 and rules.sense_probability(hits) >= rules.SENSE_THRESHOLD
    assert rules.sense_probability(0) < rules.SENSE_THRESHOLD
    evidence = rules.context_evidence(text, (0, len(text)), mention, CATALOG)
    assert evidence and all(text[s.start:s.end] == s.text for s in evidence)
    assert abs(sum(s.weight for s in evidence) - 1.0) < 1e-9


def test_feature_columns_are_named_in_order() -> None:
    assert [f.name.lower() for f in Feature] == list(FEATURES)
    assert int(LEARNED) == 4 and np.zeros(len(FEATURES))[Feature.PARALLEL] == 0.0


def test_the_run_window_never_rescales_the_heads_distance_features() -> None:
    # A brand named 200 tokens before "it": with --window 128 or 512 the head must see the same
    # distance it was trained on; only in_window (what attention can reach) follows the run's window.
    import pytest
    import torch

    from brandscan.engine.model.rows import RowAttention
    from brandscan.engine.stages.linking.head import EntitySpec, QuerySpec, build_features

    n = 400
    hidden = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    attention = RowAttention(torch.tensor([300]), torch.tensor([[100]]), torch.ones(1, 1, 1))
    query = QuerySpec(tok_start=300, tok_end=301, kind="pronoun", entities=(0,))
    entity = EntitySpec(anchors=((100, 101),))
    rows = {}
    for window in (128, 256, 512):
        feats = build_features(hidden, attention, np.zeros(n, dtype=np.int64), [query], [entity], window)[2]
        rows[window] = feats[0, 0]
    for window in (128, 512):
        for column in Feature:
            if column is not Feature.IN_WINDOW:
                assert rows[window][column] == pytest.approx(float(rows[256][column])), column.name
    assert [float(rows[w][Feature.IN_WINDOW]) for w in (128, 256, 512)] == [0.0, 0.0, 1.0]
    assert float(rows[256][Feature.LOG_TOKENS_PREVIOUS]) == pytest.approx(np.log1p(200) / 10)
