"""GUM entities renamed to common words: the same name a brand in one place and a place or a person in
another, so the sense module learns from context (training/gum_brands.py)."""
from __future__ import annotations

import random

from brandscan.evaluation.brand_marks import parse_brand_doc
from brandscan.evaluation.datasets.coref import CorefDocument, GoldMention
from brandscan.training.gum_brands import SENSE_WORDS, marked_document, renamed_senses

TEXT = ("The University of Leeds opened a lab. It hired Anna Berg. Leeds is rainy, and Anna Berg likes it. "
        "The University of Leeds later closed the lab.")


def _doc() -> CorefDocument:
    def at(phrase: str, nth: int = 0) -> tuple[int, int]:
        start = -1
        for _ in range(nth + 1):
            start = TEXT.index(phrase, start + 1)
        return start, start + len(phrase)

    mentions = [
        GoldMention(*at("The University of Leeds"), "organization-1", "proper"),
        GoldMention(*at("Leeds"), "place-2", "proper"),  # inside the organisation's name
        GoldMention(*at("It"), "organization-1", "pronoun"),
        GoldMention(*at("Anna Berg"), "person-3", "proper"),
        GoldMention(*at("Leeds", 1), "place-2", "proper"),
        GoldMention(*at("Anna Berg", 1), "person-3", "proper"),
        GoldMention(*at("The University of Leeds", 1), "organization-1", "proper"),
    ]
    return CorefDocument("GUM_test", TEXT, tuple(mentions), "news")


def test_renamed_senses_rename_consistently_and_keep_offsets_right():
    used = {"Heron", "Willow", "Flint"}  # words earlier documents' brands took
    doc, names = renamed_senses(_doc(), random.Random(0), used, share=1.0)
    assert set(names.brands) == {"organization-1"} and set(names.others) == {"place-2", "person-3"}
    brand_word = names.brands["organization-1"]
    assert brand_word in SENSE_WORDS and brand_word in used
    # every non-brand use names a catalogue brand, and no word names two entities of one document
    assert set(names.others.values()) <= {"Heron", "Willow", "Flint"} - {brand_word}
    assert len(set(names.others.values())) == 2
    assert "Leeds" not in doc.text and "Anna Berg" not in doc.text
    assert doc.text.count(f"The {brand_word}") == 2  # the article stays, the name is replaced
    for m in doc.mentions:  # every kept mention still covers its own words
        surface = doc.text[m.start:m.end]
        if m.kind == "pronoun":
            assert surface == "It"
        elif m.entity == "organization-1":
            assert surface == f"The {brand_word}"
        else:
            assert surface == names.others[m.entity]
    assert len(doc.mentions) == 6  # "Leeds" inside the organisation's replaced name went with it


def test_renamed_gum_document_marks_both_senses_of_one_word():
    doc, names = renamed_senses(_doc(), random.Random(0), {"Heron", "Willow", "Flint"}, share=1.0)
    catalog: dict[str, dict] = {}
    marked = marked_document(doc, catalog, names)
    word = names.brands["organization-1"]
    (entry,) = catalog.values()
    assert entry["name"] == word and entry["ambiguous"] is True
    parsed = parse_brand_doc("GUM_test.md", marked)
    kinds = sorted(g.kind for g in parsed.gold)
    assert kinds.count("explicit") == 2 and kinds.count("non_brand") == 3 and "pronoun" in kinds
