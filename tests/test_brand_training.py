"""The brand corpus as linking training data: the reader (evaluation/datasets/brands.py), the seeded
per-epoch forms (training/brand_forms.py), and `train linking --brands` (a tiny CPU run)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine.catalog import load_catalog
from brandscan.engine.errors import BrandscanError
from brandscan.evaluation.brand_marks import parse_brand_doc, read_brand_docs
from brandscan.evaluation.datasets.brands import brand_to_link, read_brand_links
from brandscan.training.brand_forms import AugmentShares, brand_epochs, epoch_forms
from brandscan.training.brand_training import refuse_dev

FIXTURE = Path(__file__).parent / "fixtures" / "brand_corpus"
ROOT = Path(__file__).parents[1]
BRANDSCAN = Path(sys.executable).with_name("brandscan")
runner = CliRunner()
FILLER = "The weather turned cold over the mountains, and the roads were closed for most of the week."


def test_reader_anchors_queries_and_distractors_on_exact_spans():
    link = read_brand_links(FIXTURE)[1]
    assert link.id == "travel_blog-heron" and link.source == "brands"
    anchors = [[link.text[a.start:a.end] for a in anchors] for anchors in link.entities]
    assert anchors == [["Heron Air"], ["Kestrel Rail", "Kestrel Rail"]]
    assert [(link.text[q.start:q.end], q.start, q.kind, q.gold) for q in link.queries] == [
        ("The airline", 61, "nominal", 0), ("its", 112, "pronoun", 0),
        ("It", 180, "pronoun", -1),  # "It did not move." (the heron): unmarked, a distractor
        ("They", 238, "pronoun", 0), ("We", 310, "first_person", 1), ("our", 338, "first_person", 1)]
    # The non-brand mark [[heron|-]] is neither an anchor nor a query (aliases are decided apart).
    heron = link.text.index("heron ")
    assert all(not (q.start <= heron < q.end) for q in link.queries)
    assert all(q.entities == (0, 1) for q in link.queries)


def test_reader_on_synthetic_documents():
    doc = parse_brand_doc("s.md", "[[Acme|acme]] shipped it. {{The firm|acme}} says {{it|-}} is fine, "
                                  "and he agrees; it's late. Beta: {{we|beta}} disagree.\n")
    link = brand_to_link(doc)
    assert link is not None
    assert [(link.text[q.start:q.end], q.gold) for q in link.queries] == [
        ("it", -1), ("The firm", 0), ("it", -1), ("it", -1)]  # "it's" is a candidate; he is not; beta unnamed
    assert link.text[link.queries[3].start:link.queries[3].start + 4] == "it's"
    assert brand_to_link(parse_brand_doc("n.md", "Nobody named {{it|-}} here.\n")) is None


def test_forms_are_seeded_and_keep_gold_exact():
    docs, catalog = read_brand_docs(FIXTURE), load_catalog(FIXTURE / "catalog.yaml")
    shares = AugmentShares(renamed=0.4, distance=0.3, minimal=0.2)
    first = [[(f.form, f.doc.text) for f in epoch] for epoch in brand_epochs(docs, catalog, shares, 7, 6)]
    again = [[(f.form, f.doc.text) for f in epoch] for epoch in brand_epochs(docs, catalog, shares, 7, 6)]
    assert first == again
    assert first != [[(f.form, f.doc.text) for f in e] for e in brand_epochs(docs, catalog, shares, 8, 6)]
    for form_name, share in [("renamed", AugmentShares(1.0, 0.0, 0.0)), ("distance", AugmentShares(0.0, 1.0, 0.0)),
                             ("minimal", AugmentShares(0.0, 0.0, 1.0)), ("original", AugmentShares(0.0, 0.0, 0.0))]:
        for form in epoch_forms(docs, catalog, share, 3, 0, filler=[FILLER]):
            original = docs[form.index]
            assert form.form == form_name
            before = [(original.text[g.start:g.end], g.brand, g.kind) for g in original.gold]
            after = [(form.doc.text[g.start:g.end], g.brand, g.kind) for g in form.doc.gold]
            implicit = [(s, b, k) for s, b, k in before if k != "explicit"]
            assert [(s, b, k) for s, b, k in after if k != "explicit"] == implicit
            link, base = brand_to_link(form.doc), brand_to_link(original)
            gold = [(link.text[q.start:q.end], q.tag) for q in link.queries if q.gold >= 0]
            assert gold == [(base.text[q.start:q.end], q.tag) for q in base.queries if q.gold >= 0]
            if form_name == "renamed":
                names = {n for b in form.catalog.brands for n in [b.name, *(a.text for a in b.aliases),
                                                                   *(p.name for p in b.products)]}
                assert all(s in names for s, _, k in after if k == "explicit")
                assert "Kestrel" not in form.doc.text and "Norvik" not in form.doc.text
                assert ("Heron Air" in form.doc.text) == ("Heron Air" in original.text)  # heron-air is ambiguous
            elif form_name == "distance":
                assert FILLER in form.doc.text and FILLER not in original.text
            elif form_name == "minimal":
                assert form.catalog.sha256 != catalog.sha256 and form.doc == original
            elif form_name == "original":
                assert form.doc == original and form.catalog == catalog
    with pytest.raises(BrandscanError, match="at most 1"):
        AugmentShares(0.6, 0.3, 0.2)


def test_train_linking_on_brand_data_writes_a_head_and_its_card(tmp_path):
    out = tmp_path / "head"
    result = runner.invoke(app, ["train", "linking", "--brands", str(FIXTURE), "--out", str(out), "--epochs", "1",
                                 "--device", "cpu", "--max-documents", "2", "--augment-renamed", "0.5"])
    assert result.exit_code == 0, result.output
    assert (out / "head.safetensors").stat().st_size > 0 and (out / "adapter.safetensors").exists()
    card = (out / "TRAINING_CARD.md").read_text()
    assert f"Brand corpus (CC-BY-4.0): {FIXTURE}" in card and "renamed 50%" in card
    assert f'"brands:{FIXTURE}": 2' in card and "GAP development" not in card


def test_train_linking_refuses_the_dev_split(tmp_path):
    # The installed command, so that the exit code is the one main() gives.
    done = subprocess.run([str(BRANDSCAN), "train", "linking", "--brands", str(FIXTURE), "--brands",
                           "corpus/brands/dev/", "--out", str(tmp_path / "x")], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("brandscan: error: --brands corpus/brands/dev: corpus dev never trains anything "
                           "(give a train folder, e.g. corpus/brands/train)\n")
    assert not (tmp_path / "x").exists()
    with pytest.raises(BrandscanError, match="corpus dev never trains anything"):
        refuse_dev(tmp_path / "elsewhere" / "dev")


def test_train_linking_head_learns_from_the_engine_candidates_and_loads(tmp_path):
    """The head-only trainer: gold labels on the engine's own candidates, a held-out document choosing
    the epoch and calibrating, an examples folder standing in for the encoder passes of a second run and
    encoding only what a grown corpus adds, a head that loads."""
    import shutil

    from brandscan.engine.model.loader import load_model
    from brandscan.engine.stages.linking.decide import Linker
    from brandscan.engine.stages.load import load_linker

    corpus, out, examples = tmp_path / "train", tmp_path / "head", tmp_path / "examples"
    shutil.copytree(FIXTURE.parent / "brands_eval", corpus)
    extra = sorted(corpus.glob("*.md"))[-1]
    held_back = extra.read_text()
    extra.unlink()
    args = ["train", "linking-head", "--brands", str(corpus), "--out", str(out), "--epochs", "2", "--renamed", "1",
            "--distance", "0", "--held-out", "0.5", "--examples", str(examples)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    first = len(list(examples.glob("*.pt")))
    assert first > 0 and "examples: 0 forms read" in result.output
    figures = json.loads((out / "figures.json").read_text())
    assert figures["labels"]["train"]["brand_queries"] > 0 and figures["labels"]["train"]["none_queries"] > 0
    assert "none_shift" in figures["calibration"]
    card = (out / "TRAINING_CARD.md").read_text()
    assert "corpus dev is never read" in card and (out / "ADAPTER_CARD.md").is_file()
    encoder, linker = load_linker(load_model(None), out)
    assert isinstance(linker, Linker) and linker.adapter_path is not None
    again = runner.invoke(app, args)  # every form is read back, none encoded
    assert again.exit_code == 0, again.output
    assert f"examples: {first} forms read from {examples}, 0 encoded" in again.output
    assert json.loads((out / "figures.json").read_text())["labels"] == figures["labels"]
    extra.write_text(held_back)  # the corpus grows by one document: only its forms are encoded
    grown = runner.invoke(app, args)
    assert grown.exit_code == 0, grown.output
    added = len(list(examples.glob("*.pt"))) - first
    assert 1 <= added <= 2 and f"examples: {first} forms read from {examples}, {added} encoded" in grown.output
    catalog = corpus / "catalog.yaml"  # Acme Foods, also "Acme", made ambiguous: a document naming it gains a form
    catalog.write_text(catalog.read_text().replace("category: food company", "category: food company\n    ambiguous: true"))
    common = runner.invoke(app, [*args, "--common-word", "1"])
    assert common.exit_code == 0, common.output
    forms = [int(n) for n in re.findall(r"augmented_forms.: (\d+)", grown.output + common.output)]
    assert len(forms) == 2 and forms[1] == forms[0] + 1  # the one training document naming Acme Foods
    assert "by its common word alone" in (out / "TRAINING_CARD.md").read_text()


def test_the_example_cache_is_keyed_by_the_code_that_makes_examples(tmp_path):
    # A form cached under other candidate or feature code is never read back: its inputs are not the analyzer's.
    from brandscan.training.example_cache import EXAMPLE_MODULES, ExampleCache, source_sha256

    made = []
    assert source_sha256() == source_sha256(EXAMPLE_MODULES)
    assert source_sha256(EXAMPLE_MODULES[:1]) != source_sha256(EXAMPLE_MODULES[:2])
    for code, expected in ((source_sha256(), 1), (source_sha256(), 1), ("other code", 2)):
        cache = ExampleCache(tmp_path, ["features", code])
        assert cache.get(["form"], lambda: made.append(1) or "examples") == "examples"
        assert len(made) == expected


def test_brand_uses_that_open_a_sentence_can_weigh_more_in_the_sense_loss():
    import torch

    from brandscan.engine.stages.linking.head import SENSE_FEATURES
    from brandscan.training.linking_head import sense_weights

    feats = torch.zeros(4, len(SENSE_FEATURES))
    feats[[0, 2], SENSE_FEATURES.index("sentence_initial")] = 1.0  # uses 0 and 2 open a sentence
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])  # 0 and 1 are brand uses
    assert sense_weights(labels, feats, 2.2).tolist() == pytest.approx([2.2, 1.0, 1.0, 1.0])
    assert sense_weights(labels, feats, 1.0).tolist() == [1.0, 1.0, 1.0, 1.0]  # the default: every use alike


@pytest.mark.parametrize(("option", "value", "setting", "card"), [
    ("--none-context", "4", ("none_context", 4), "the mean state of the mention and 4 tokens either side"),
    ("--sense-profile", "1", ("sense_profile", True), "the cosine of the name's context with its brand's profile"),
])
def test_a_head_trained_with_more_inputs_keeps_its_setting_and_links(tmp_path, option, value, setting, card):
    """`--none-context N`: the "no brand" module also reads the mean state of each pronoun or noun phrase
    with N tokens either side; `--sense-profile 1`: the sense module also reads how close the words around
    an ambiguous name are to its brand's profile. The head keeps the setting, its examples are cached apart,
    and analysis feeds it the same inputs."""
    import shutil

    from brandscan.engine.model.loader import load_model
    from brandscan.engine.stages.encode import FrontHalf, front_half
    from brandscan.engine.stages.linking.decide import link
    from brandscan.engine.stages.load import load_linker
    from brandscan.engine.stages.mentions import brand_lexicon
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.datasets.brands import read_brand_corpus

    corpus, out, examples = tmp_path / "train", tmp_path / "head", tmp_path / "examples"
    shutil.copytree(FIXTURE.parent / "brands_eval", corpus)
    args = ["train", "linking-head", "--brands", str(corpus), "--out", str(out), "--epochs", "1", "--renamed", "0",
            "--distance", "0", "--held-out", "0.5", "--members", "1", "--examples", str(examples)]
    plain = runner.invoke(app, args)
    assert plain.exit_code == 0, plain.output
    with_more = runner.invoke(app, [*args, option, value])
    assert with_more.exit_code == 0, with_more.output
    assert "examples: 0 forms read" in with_more.output  # other inputs: nothing read from the plain run's cache
    assert card in (out / "TRAINING_CARD.md").read_text()

    loaded = load_model(None)
    encoder, linker = load_linker(loaded, out)
    assert getattr(linker.head.config, setting[0]) == setting[1]
    docs, catalog = read_brand_corpus(corpus)
    setup = FrontHalf(catalog, brand_lexicon(catalog), load_tokenizer(loaded.tokenizer_file))
    for doc in docs:
        state = front_half(doc.text, setup, encoder, window=loaded.config.window, budget=loaded.config.global_budget)
        result = link(state, catalog, linker)
        assert all(0.0 < m.probability <= 1.0 for m in result.mentions)
    assert any(m.brand is not None and m.kind in ("pronoun", "nominal") for m in result.mentions)
