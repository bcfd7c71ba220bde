"""ABSA readers and figures on tiny fixtures whose counts and scores were worked out by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from brandscan.evaluation.datasets.absa import (
    DatasetError,
    count_terms,
    is_dev_id,
    polarity_figures,
    read_absa,
)

FIXTURES = Path(__file__).parent / "fixtures" / "absa"


def test_mams_xml_reads_terms_with_offsets() -> None:
    sentences = read_absa(FIXTURES / "tiny_mams.xml")
    assert [s.id for s in sentences] == ["0", "1", "2"]  # MAMS has no ids: index
    first = sentences[0]
    assert [(t.term, t.start, t.end, t.polarity) for t in first.terms] == [
        ("pasta", 4, 9, "positive"),
        ("waiter", 32, 38, "negative"),
    ]
    assert count_terms(sentences) == {"negative": 2, "neutral": 1, "positive": 3, "total": 6}


def test_jsonl_drops_conflict_unless_asked() -> None:
    sentences = read_absa(FIXTURES / "tiny_semeval.jsonl")
    assert count_terms(sentences) == {"negative": 2, "neutral": 0, "positive": 1, "total": 3}
    kept = read_absa(FIXTURES / "tiny_semeval.jsonl", keep_conflict=True)
    assert kept[2].terms[0].polarity == "conflict"
    assert len(sentences) == 4  # a sentence without terms is still a sentence


def test_offsets_that_do_not_match_name_the_file() -> None:
    with pytest.raises(DatasetError, match="bad_offsets.jsonl: sentence 9"):
        read_absa(FIXTURES / "bad_offsets.jsonl")


def test_unknown_format_lists_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("x")
    with pytest.raises(DatasetError, match="expected one of: .xml, .jsonl"):
        read_absa(path)


def test_dev_split_is_the_md5_rule() -> None:
    ids = [str(i) for i in range(200)]
    dev = [i for i in ids if is_dev_id(i)]
    assert 5 < len(dev) < 40
    sentences = read_absa(FIXTURES / "tiny_semeval.jsonl", split="dev")
    train = read_absa(FIXTURES / "tiny_semeval.jsonl", split="train")
    assert len(sentences) + len(train) == 4
    assert all(is_dev_id(s.id) for s in sentences) and not any(is_dev_id(s.id) for s in train)


def test_figures_match_a_hand_computation() -> None:
    gold = ["positive", "positive", "negative", "neutral", "neutral"]
    pred = ["positive", "negative", "negative", "neutral", "positive"]
    figures = polarity_figures(gold, pred)
    assert figures.n == 5
    assert figures.accuracy == pytest.approx(60.0)
    # positive: tp 1, predicted 2, gold 2 -> F1 0.5; negative: tp 1, pred 2, gold 1 -> 2/3;
    # neutral: tp 1, pred 1, gold 2 -> 2/3. Macro = (0.5 + 2/3 + 2/3) / 3.
    assert figures.f1["positive"] == pytest.approx(50.0)
    assert figures.macro_f1 == pytest.approx(100 * (0.5 + 2 / 3 + 2 / 3) / 3)
    assert figures.confusion == ((1, 0, 0), (0, 1, 1), (1, 0, 1))


def test_shared_semeval_dev_split_matches_its_flag() -> None:
    path = Path("/work/shared/data/semeval2014_absa/restaurants_train.jsonl")
    if not path.exists():
        pytest.skip("shared SemEval data not present")
    import json

    flags = {json.loads(line)["id"]: json.loads(line)["suggested_dev"] for line in path.open()}
    assert all(is_dev_id(i) == flag for i, flag in flags.items())
