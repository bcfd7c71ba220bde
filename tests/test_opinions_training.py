"""`train opinions` on a few corpus train documents: reproducible, a card, loadable; dev refused; the
layout and features the head reads."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from brandscan.engine.errors import BrandscanError
from brandscan.engine.stages.sentiment.features import (
    PAIR_FEATURES,
    PairFeature,
    Reference,
    candidates,
    pair_features,
    reference_sentences,
)
from brandscan.engine.stages.sentiment.layout import token_layout
from brandscan.engine.stages.sentiment.opinion_head import (
    OPINION_CONFIG_FILE,
    OPINION_HEAD_FILE,
    load_opinion_head,
)
from brandscan.engine.text.passages import load_tokenizer, tokenize_document
from brandscan.training.opinion_run import CARD_FILE, run_training
from brandscan.training.opinion_train import OpinionTrainConfig

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "brands"


def _small_corpus(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(CORPUS / "train" / "catalog.yaml", folder / "catalog.yaml")
    for doc in sorted((CORPUS / "train").glob("*.md"))[:n]:
        shutil.copy(doc, folder / doc.name)
    return folder


def test_training_is_reproducible_and_writes_a_card(tmp_path: Path) -> None:
    brands = _small_corpus(tmp_path / "train")
    config = OpinionTrainConfig(seed=0, epochs=1, held_out=0.34)
    outs = []
    for run in ("a", "b"):
        result = run_training(brands, tmp_path / run, config, command="test", log=lambda _: None)
        outs.append(tmp_path / run)
        assert result.documents == (2, 1)
        assert set(result.held_out) == set(result.baseline)
    for name in (OPINION_HEAD_FILE, OPINION_CONFIG_FILE):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    card = (outs[0] / CARD_FILE).read_text()
    assert "seed 0" in card and "`test`" in card and "Dev documents are never read" in card
    head, loaded_config = load_opinion_head(outs[0])
    assert loaded_config.encoder_sha256 and loaded_config.attach_threshold == result.config.attach_threshold


def test_a_dev_folder_never_trains(tmp_path: Path) -> None:
    with pytest.raises(BrandscanError, match="dev never trains"):
        run_training(_small_corpus(tmp_path / "dev", 1), tmp_path / "out", OpinionTrainConfig(epochs=1))


def test_layout_and_pair_features() -> None:
    from brandscan.engine.model.loader import default_model_dir

    tokenizer = load_tokenizer(default_model_dir() / "tokenizer.json")
    text = "Acme makes boots. They are great, but Borealis is cheaper."
    tokens = tokenize_document(text, tokenizer)
    layout = token_layout(tokens)
    assert [text[s.start:s.end] for s in layout.sentences] == ["Acme makes boots.", "They are great, but Borealis is cheaper."]
    assert [text[c.start:c.end] for c in layout.clauses] == ["Acme makes boots.", "They are great", "but Borealis is cheaper."]

    def span(surface: str) -> tuple[int, int]:
        start = text.index(surface)
        return tokens.token_span(start, start + len(surface))

    refs = [Reference(*span("Acme"), "acme", "explicit"), Reference(*span("They"), "acme", "pronoun"),
            Reference(*span("Borealis"), "borealis", "explicit")]
    sentences = reference_sentences(layout, refs)
    assert candidates(layout, span("great"), sentences, 2) == [0, 1, 2]
    assert candidates(layout, span("boots"), sentences, 2) == [0]
    rows = pair_features(layout, span("great"), refs, [0, 1, 2], sentences)
    assert rows.shape == (3, len(PAIR_FEATURES))
    acme, they, borealis = rows
    assert acme[PairFeature.PREVIOUS_SENTENCE] == 1 and acme[PairFeature.SAME_SENTENCE] == 0
    assert acme[PairFeature.FIRST_IN_SENTENCE] == 1 and they[PairFeature.FIRST_IN_SENTENCE] == 1
    assert they[PairFeature.SAME_CLAUSE] == 1 and they[PairFeature.NEAREST] == 1 and they[PairFeature.KIND_PRONOUN] == 1
    assert borealis[PairFeature.AFTER] == 1 and borealis[PairFeature.SAME_CLAUSE] == 0
    assert np.all(rows[:, PairFeature.GAP] >= 0)


def test_an_expression_reads_its_words_their_pairs_and_the_rest_of_its_clause() -> None:
    from brandscan.engine.model.loader import default_model_dir
    from brandscan.engine.stages.sentiment.word_bags import PAIR_BUCKETS, VOCAB, word_bags

    tokenizer = load_tokenizer(default_model_dir() / "tokenizer.json")
    text = "Flew Aurora Air. The airline lost my bag, but the crew were lovely."
    tokens = tokenize_document(text, tokenizer)
    layout = token_layout(tokens)
    start = text.index("lost my bag")
    first, last = tokens.token_span(start, start + len("lost my bag"))
    (bag,) = word_bags(tokens.input_ids, layout, [(first, last)])
    rows = bag.tolist()
    words = [r for r in rows if r < VOCAB]
    pairs = [r for r in rows if VOCAB <= r < VOCAB + PAIR_BUCKETS]
    context = [r - VOCAB - PAIR_BUCKETS for r in rows if r >= VOCAB + PAIR_BUCKETS]
    assert [tokenizer.id_to_token(w) for w in words] == ["lost", "my", "bag"]
    assert len(pairs) == 2
    # the rest of the clause before "but" (its comma with it), none of the next clause's words
    assert [tokenizer.id_to_token(w) for w in context] == ["the", "airline", ","]


def test_a_head_that_reads_words_trains_saves_and_loads(tmp_path: Path) -> None:
    from brandscan.engine.stages.sentiment.opinion_head import OpinionHeadConfig

    brands = _small_corpus(tmp_path / "train")
    config = OpinionTrainConfig(seed=0, epochs=1, held_out=0.34, head=OpinionHeadConfig(words=8))
    run_training(brands, tmp_path / "out", config, command="test", log=lambda _: None)
    head, loaded = load_opinion_head(tmp_path / "out")
    assert loaded.words == 8 and head.word_table.weight.shape[1] == 8
