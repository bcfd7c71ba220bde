import json
from pathlib import Path

import pytest

from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.brand_docs import parse_brand_doc, read_brand_docs
from brandscan.evaluation.coref_metric import CorefDecision, coref_scores
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention, coref_to_link
from brandscan.evaluation.datasets.gap import gap_to_link, read_gap
from brandscan.evaluation.gap_metric import GapDecision, gap_scores

FIXTURES = Path(__file__).parent / "fixtures" / "brands_eval"


def test_gap_scores_known_figures():
    # M: A right (tp), B predicted for a neither row (fp); F: gold A predicted none (fn), B right (tp).
    decisions = [GapDecision("M", 0, 0), GapDecision("M", -1, 1), GapDecision("F", 0, -1), GapDecision("F", 1, 1)]
    s = gap_scores(decisions)
    assert s.masculine == pytest.approx(100 * 2 * 0.5 * 1.0 / 1.5)  # P 1/2, R 1/1
    assert s.feminine == pytest.approx(100 * 2 * 1.0 * 0.5 / 1.5)  # P 1/1, R 1/2
    assert s.overall == pytest.approx(100 * 2 / 3)  # tp 2, fp 1, fn 1
    assert s.bias == pytest.approx(1.0)
    assert s.pairs == 8


def test_coref_scores_by_bucket():
    s = coref_scores([
        CorefDecision("pronoun", 0, 0, 0), CorefDecision("pronoun", 1, 0, 2),
        CorefDecision("nominal", 1, 1, 7), CorefDecision("nominal", -1, -1, 0),
    ])
    assert (s.overall.correct, s.overall.total) == (2, 3)
    assert s.by_bucket["same_passage"].value == 100.0
    assert s.by_bucket["1-3_passages"].value == 0.0
    assert s.by_bucket["further"].total == 1
    assert s.by_kind["pronoun"].value == 50.0
    assert (s.unnamed_rejected.correct, s.unnamed_rejected.total) == (1, 1)


def test_gap_reader_checks_offsets(tmp_path):
    header = "ID\tText\tPronoun\tPronoun-offset\tA\tA-offset\tA-coref\tB\tB-offset\tB-coref\tURL\n"
    good = "x-1\tAnn met Bea. She smiled.\tShe\t13\tAnn\t0\tFALSE\tBea\t8\tTRUE\tu\n"
    path = tmp_path / "g.tsv"
    path.write_text(header + good)
    (row,) = read_gap(path)
    doc = gap_to_link(row)
    assert doc.queries[0].gold == 1 and doc.queries[0].tag == "F"
    path.write_text(header + good.replace("\t13\t", "\t12\t"))
    with pytest.raises(BrandscanError, match="g.tsv:2"):
        read_gap(path)


def test_coref_to_link_uses_named_entities_as_anchors():
    text = "Acme grew. The company said it would hire. The weather was bad."
    mentions = (
        GoldMention(0, 4, "e1", "proper"), GoldMention(11, 22, "e1", "nominal"),
        GoldMention(28, 30, "e1", "pronoun"), GoldMention(43, 54, "e2", "nominal"),
    )
    doc = coref_to_link(CorefDocument("d", text, mentions), "gum")
    assert [(text[q.start:q.end], q.gold) for q in doc.queries] == [
        ("The company", 0), ("it", 0), ("The weather", -1)
    ]


def test_brand_doc_format_and_scores():
    doc = parse_brand_doc("t.md", "<!-- author: acme -->\n[[Acme|acme]] grew. {{It|acme}} ate [[Apple|-]] pie. {{it|-}}")
    assert doc.author == "acme"
    assert doc.text == "Acme grew. It ate Apple pie. it"
    assert [(doc.text[g.start:g.end], g.brand, g.implicit) for g in doc.gold] == [
        ("Acme", "acme", False), ("It", "acme", True), ("Apple", None, False), ("it", None, True)
    ]
    with pytest.raises(BrandscanError, match="bad label"):
        parse_brand_doc("t.md", "[[Acme|a b]]")


def test_fixture_documents_parse():
    docs = read_brand_docs(FIXTURES)
    assert len(docs) == 5
    for doc in docs:
        assert doc.gold and "[[" not in doc.text and "{{" not in doc.text


def test_eval_gap_json_is_one_object(monkeypatch):
    from typer.testing import CliRunner

    from brandscan.cli.app import app

    head = Path(__file__).parents[1] / "engine/model/all-minilm-l6-v2/heads/linking/head.safetensors"
    if not head.is_file():
        pytest.skip("no trained linking head shipped in this checkout")
    tsv = Path(__file__).parent / "fixtures" / "gap_tiny.tsv"
    result = CliRunner().invoke(app, ["eval", "gap", str(tsv), "--format", "json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= {"f1_masculine", "f1_feminine", "f1_overall", "bias"}
