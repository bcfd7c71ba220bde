"""Tokenization and passage layout: offsets, markers, restarting positions, limits, linear scale."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brandscan.engine.model.loader import default_model_dir
from brandscan.engine.text.passages import Tokenizer, load_tokenizer, paragraph_spans, tokenize_document

TEXT = (
    "Norvik Outdoor makes jackets. It says they are waterproof!\n\n"
    "The company's boots, however, leak. Customers noticed.\n"
    "  \n"
    "Third paragraph: Tromsø, café, “quoted”, and ß."
)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return load_tokenizer(default_model_dir() / "tokenizer.json")


def test_paragraphs_follow_blank_lines() -> None:
    spans = paragraph_spans(TEXT)
    assert [TEXT[a:b] for a, b in spans] == [
        "Norvik Outdoor makes jackets. It says they are waterproof!",
        "The company's boots, however, leak. Customers noticed.",
        "Third paragraph: Tromsø, café, “quoted”, and ß.",
    ]


def test_layout_is_cls_tokens_sep_with_restarting_positions(tokenizer: Tokenizer) -> None:
    doc = tokenize_document(TEXT, tokenizer)
    assert len(doc.passages) == 3
    for passage in doc.passages:
        ids = doc.input_ids[passage.token_start : passage.token_end]
        assert ids[0] == tokenizer.token_to_id("[CLS]") and ids[-1] == tokenizer.token_to_id("[SEP]")
        assert doc.position_ids[passage.token_start : passage.token_end].tolist() == list(range(len(ids)))
        assert doc.is_marker[passage.token_start] and doc.passage_of[passage.token_end - 1] == passage.index
    assert int(doc.is_marker.sum()) == 3
    # The word pieces are exactly what the tokenizer gives for the whole text.
    plain = tokenizer.encode(TEXT, add_special_tokens=False)
    assert doc.input_ids[~doc.is_special].tolist() == plain.ids


def test_offsets_point_into_the_original_text(tokenizer: Tokenizer) -> None:
    doc = tokenize_document(TEXT, tokenizer)
    words = [TEXT[s:e] for (s, e), special in zip(doc.offsets.tolist(), doc.is_special) if not special]
    assert words[:6] == ["Nor", "vik", "Outdoor", "makes", "jackets", "."]
    cafe = TEXT.index("café")
    first, last = doc.token_span(cafe, cafe + 4)
    assert (doc.offsets[first, 0], doc.offsets[last - 1, 1]) == (cafe, cafe + 4)
    first, last = doc.token_span(TEXT.index("company"), TEXT.index("company") + len("company"))
    assert [TEXT[s:e] for s, e in doc.offsets[first:last].tolist()] == ["company"]
    assert doc.passage_of[first] == 1


def test_long_paragraphs_split_at_sentences_then_tokens(tokenizer: Tokenizer) -> None:
    sentence = "The jacket kept me dry in heavy rain. "
    text = sentence * 40 + "x" * 3 + " " + "word " * 60
    doc = tokenize_document(text, tokenizer, max_tokens=24)
    lengths = [p.token_end - p.token_start - 2 for p in doc.passages]
    assert max(lengths) <= 24 and sum(lengths) == int((~doc.is_special).sum())
    # Every passage that ends inside the repeated sentences ends at a sentence boundary.
    for passage in doc.passages[:-4]:
        assert text[passage.start : passage.end].endswith("rain.")


def test_empty_and_blank_documents(tokenizer: Tokenizer) -> None:
    for text in ("", "   \n\n  \t", "\x00\x01"):
        doc = tokenize_document(text, tokenizer)
        assert doc.n_tokens == 0 and doc.passages == ()


def test_one_million_tokens_in_linear_memory(tokenizer: Tokenizer) -> None:
    paragraph = "Norvik Outdoor shipped the jacket late, but it was excellent. " * 8
    text = (paragraph + "\n\n") * 12_000  # about 1.1M word pieces
    doc = tokenize_document(text, tokenizer)
    assert doc.n_tokens > 1_000_000
    assert doc.input_ids.nbytes == 8 * doc.n_tokens  # flat arrays, nothing quadratic
    assert np.all(np.diff(doc.offsets[:, 0]) >= 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["Acme", "it", "they.", "Café", "\n\n", "\n", " ", "x-y", "’s", "!"]), max_size=80))
def test_every_token_offset_is_inside_its_passage(tokenizer: Tokenizer, pieces: list[str]) -> None:
    text = " ".join(pieces)
    doc = tokenize_document(text, tokenizer, max_tokens=8)
    for index, (start, end) in enumerate(doc.offsets.tolist()):
        passage = doc.passages[doc.passage_of[index]]
        assert passage.start <= start <= end <= passage.end
