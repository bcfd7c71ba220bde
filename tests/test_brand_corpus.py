"""The brand corpus tooling: `corpus check`, `eval brands` with its floors, the GUM builder, augmentation."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine.catalog import load_catalog
from brandscan.evaluation.brand_marks import parse_brand_doc, read_brand_docs
from brandscan.evaluation.corpus_check import distant_flags
from brandscan.training.brand_augment import (
    brand_free_paragraphs,
    insert_distance,
    name_by_common_word,
    rename_brands,
)

FIXTURE = Path(__file__).parent / "fixtures" / "brand_corpus"
runner = CliRunner()


def test_marks_parse_into_text_gold_and_opinions():
    doc = read_brand_docs(FIXTURE)[1]
    assert doc.genre == "travel_blog" and doc.text.startswith("I flew Heron Air to Tromsø")
    kinds = [(doc.text[g.start:g.end], g.brand, g.kind) for g in doc.gold]
    assert kinds[:4] == [("Heron Air", "heron-air", "explicit"), ("Kestrel Rail", "kestrel", "explicit"),
                         ("The airline", "heron-air", "nominal"), ("its", "heron-air", "pronoun")]
    assert ("heron", None, "non_brand") in kinds and ("We", "kestrel", "first_person") in kinds
    comparison = parse_brand_doc("t.md", "X <<beats|a:performance:pos|b:performance:neg>> Y")
    assert [(j.brand, j.polarity) for j in comparison.opinions[0].judgements] == [("a", "pos"), ("b", "neg")]
    assert comparison.text[comparison.opinions[0].start:comparison.opinions[0].end] == "beats"


@pytest.mark.parametrize("marked, message", [
    ("[[Acme|acme]] <<good {{it|acme}} is>>", "t.md:1:15: unbalanced or nested mark '<<'"),
    ("<<good|acme:overall:great>>", "bad polarity 'great': expected one of: pos, neg, neu"),
    ("<<good|acme:overall>>", "bad opinion label 'acme:overall'"),
    ("[[Acme|a b]]", "bad label 'a b'"),
])
def test_bad_marks_name_line_and_column(marked, message):
    with pytest.raises(Exception, match=message):
        parse_brand_doc("t.md", marked)


def test_corpus_check_counts_and_names_each_broken_convention(tmp_path):
    result = runner.invoke(app, ["corpus", "check", str(FIXTURE), "--format", "json"])
    assert result.exit_code == 2  # the fixture documents are shorter than a corpus document may be
    report = json.loads(result.stdout)
    assert report["counts"] == {
        "documents": 2, "words": 110, "explicit": 6, "implicit": 6, "distant": 1, "nominal": 3, "pronoun": 3,
        "first_person": 2, "non_brand": 1, "ambiguous_brand_uses": 2, "opinions": 6, "opinion_expressions": 6,
        "distractors": 3, "long_documents": 0}
    assert [p.split(": ", 1)[1] for p in report["problems"]] == [
        "38 words: a document has 300 to 6000", "72 words: a document has 300 to 6000"]

    (tmp_path / "catalog.yaml").write_text((FIXTURE / "catalog.yaml").read_text())
    (tmp_path / "bad.md").write_text(
        "<!-- genre: blog -->\n[[Norvik's|norvik]] and [[Norvic|norvik]] met [[Acme|acme]].\n\n"
        "{{We|norvik}} like {{a shop|norvik}}. [[Kesrel|-]] <<fine|kestrel:taste:pos>>\n\n"
        "Two herons watched. <<Norvik is great|norvik:overall:pos>>\n")
    result = runner.invoke(app, ["corpus", "check", str(tmp_path)])
    assert result.exit_code == 2
    for expected in [
        "bad.md:1: header genre 'blog': expected `<!-- genre: G -->`",
        "bad.md:2: [[Norvik's|...]]: the possessive 's stays outside the span",
        "bad.md:2: [[Norvic|norvik]]: not a name, alias, product or handle of 'norvik'",
        "bad.md:2: brand id 'acme' is not in the catalogue",
        "bad.md:4: {{We|norvik}}: first person outside a speaker turn whose label names 'norvik'",
        "bad.md:4: {{a shop|norvik}}: neither a third-person pronoun nor a nominal",
        "bad.md:4: [[Kesrel|-]]: not a name in the catalogue",
        "bad.md:4: aspect 'taste': expected one of:",
        "bad.md:4: opinion about 'kestrel', which the document never names",
        "bad.md:6: 'herons' is a catalogue name: mark it",
        "bad.md:6: 'Norvik' is a catalogue name: mark it [[Norvik|brand]] or [[Norvik|-]] (a name inside an "
        "opinion expression",
    ]:
        assert expected in result.stderr, expected


def test_distance_counts_paragraphs_since_the_brands_last_name():
    doc = read_brand_docs(FIXTURE)[1]
    flags = {doc.text[s:e]: far for (s, e), far in distant_flags(doc).items()}
    assert flags == {"The airline": False, "its": False, "They": True, "We": False, "our": False}


def test_eval_brands_prints_the_floors_of_the_same_run():
    result = runner.invoke(app, ["eval", "brands", str(FIXTURE), "--format", "json", "--baselines-only"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["counts"]["implicit"] == 6 and out["counts"]["opinions"] == 6
    nearest = out["figures"]["nearest"]
    # "They" (paragraph 4) follows nothing but "Heron Air" and "Kestrel Rail": the nearest is Kestrel.
    assert nearest["implicit_accuracy_distant"] == 0.0 and nearest["first_person_accuracy"] == 1.0
    assert nearest["explicit_f1"] == 1.0 and nearest["sense_non_brand_accuracy"] == 1.0
    assert set(out["figures"]) == {"nearest", "most_frequent"}


def test_opinion_figures_say_which_stage_lost_an_opinion():
    from brandscan.evaluation.brand_scores import BrandFigures, PredictedOpinion, Prediction, score_document

    doc = parse_brand_doc("t.md", "[[Acme|acme]] is <<great|acme:overall:pos>>, its app <<slow|acme:ease_of_use:neg>>"
                                  " and the rest <<fine|acme:overall:neu>>.")
    at = {w: doc.text.index(w) for w in ("great", "slow", "fine", "rest")}
    opinions = (PredictedOpinion(at["great"], at["great"] + 5, "acme", "product_quality", "pos"),  # aspect wrong
                PredictedOpinion(at["slow"], at["slow"] + 4, "other", "ease_of_use", "neg"),  # brand wrong
                PredictedOpinion(at["rest"], at["rest"] + 4, "acme", "overall", "pos"))  # no gold expression there
    figures = BrandFigures()
    score_document(doc, load_catalog(FIXTURE / "catalog.yaml"), Prediction((), opinions, {}), figures)
    got = figures.as_dict()
    assert (got["opinion_expression_recall"], got["opinion_expression_recall_n"]) == (0.6667, 3)
    assert (got["opinion_expression_precision"], got["opinion_brand_accuracy"]) == (0.6667, 0.5)
    assert (got["opinion_polarity_accuracy"], got["opinion_aspect_accuracy"], got["opinion_aspect_accuracy_n"]) == (
        1.0, 0.0, 1)
    assert got["opinion_f1"] == 0.0


def test_eval_brands_runs_the_shipped_model_beside_the_floors():
    result = runner.invoke(app, ["eval", "brands", str(FIXTURE), "--catalog", "minimal"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("figure"))
    assert header.split() == ["figure", "model", "nearest", "most_frequent"]
    assert "implicit_accuracy_distant" in result.stdout and "(catalogue: minimal)" in result.stdout


def test_renaming_keeps_every_gold_span_exact():
    catalog = load_catalog(FIXTURE / "catalog.yaml")
    doc = read_brand_docs(FIXTURE)[0]
    renamed, new_catalog = rename_brands(doc, catalog, random.Random(7))
    norvik = next(b for b in new_catalog.brands if b.id == "norvik")
    assert "Norvik" not in renamed.text and norvik.name != "Norvik Outdoor"
    surfaces = {renamed.text[g.start:g.end] for g in renamed.gold if g.brand == "norvik" and g.kind == "explicit"}
    assert surfaces <= {norvik.name, *(a.text for a in norvik.aliases),
                        *(p.name for p in norvik.products), *(a.text for p in norvik.products for a in p.aliases)}
    # Heron Air is ambiguous: its name is the point, so it keeps it.
    assert "Heron flew it to Oslo" in renamed.text
    for before, after in zip(doc.gold, renamed.gold):
        if before.kind != "explicit" or before.brand != "norvik":
            assert doc.text[before.start:before.end] == renamed.text[after.start:after.end]
    again, _ = rename_brands(doc, catalog, random.Random(7))
    assert again.text == renamed.text  # seeded


def test_an_ambiguous_brand_can_be_named_by_its_common_word_alone():
    catalog = load_catalog(FIXTURE / "catalog.yaml")
    doc = next(d for d in read_brand_docs(FIXTURE) if d.text.startswith("I flew Heron Air"))
    common, new_catalog = name_by_common_word(doc, catalog)
    heron = next(b for b in new_catalog.brands if b.id == "heron-air")
    assert (heron.name, heron.aliases) == ("Heron", ())
    assert common.text.startswith("I flew Heron to Tromsø") and "Heron Air" not in common.text
    explicit = [(common.text[g.start:g.end], g.brand) for g in common.gold if g.kind == "explicit"]
    assert ("Heron", "heron-air") in explicit and ("Kestrel Rail", "kestrel") in explicit  # unambiguous brands stay
    # every other mark, the non-brand "heron" among them, keeps its text
    assert [common.text[g.start:g.end] for g in common.gold if g.brand != "heron-air"] == \
        [doc.text[g.start:g.end] for g in doc.gold if g.brand != "heron-air"]
    assert [common.text[o.start:o.end] for o in common.opinions] == \
        [doc.text[o.start:o.end] for o in doc.opinions]


def test_inserted_paragraphs_make_links_distant():
    docs = read_brand_docs(FIXTURE)
    doc = docs[0]
    assert not any(distant_flags(doc).values())
    filler = brand_free_paragraphs(docs) + ["The weather held all week, and the valley was quiet at dawn."]
    longer = insert_distance(doc, filler, random.Random(3), 4)
    assert any(distant_flags(longer).values())
    assert [longer.text[g.start:g.end] for g in longer.gold] == [doc.text[g.start:g.end] for g in doc.gold]
    assert [longer.text[o.start:o.end] for o in longer.opinions] == [doc.text[o.start:o.end] for o in doc.opinions]


def test_corpus_held_out_copies_the_documents_training_holds_out(tmp_path):
    # The documents every head, shift and threshold was chosen on, as the training commands split them.
    from brandscan.evaluation.brand_marks import brand_doc_files
    from brandscan.training.held_out import split_by_name

    corpus = tmp_path / "train"
    corpus.mkdir()
    for path in [*brand_doc_files(FIXTURE), FIXTURE / "catalog.yaml"]:
        (corpus / path.name).write_text(path.read_text())
    out = tmp_path / "held"
    result = runner.invoke(app, ["corpus", "held-out", str(corpus), str(out), "--held-out", "0.5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    fit, held = split_by_name(read_brand_docs(corpus), lambda d: d.name, 0.5, 3)
    assert sorted(p.name for p in out.glob("*.md")) == sorted(Path(d.name).name for d in held) and fit
    assert (out / "catalog.yaml").read_text() == (corpus / "catalog.yaml").read_text()
    again = runner.invoke(app, ["corpus", "held-out", str(corpus), str(out)])
    assert again.exit_code != 0 and "not empty" in str(again.exception or again.output)
    scored = runner.invoke(app, ["eval", "brands", str(out), "--format", "json", "--baselines-only"])
    assert scored.exit_code == 0 and json.loads(scored.stdout)["counts"]["documents"] == len(held)
