from pathlib import Path

import pytest

from brandscan.engine.catalog import load_catalog

HEADS = Path(__file__).parents[1] / "engine/model/all-minilm-l6-v2/heads/linking/head.safetensors"
pytestmark = pytest.mark.skipif(not HEADS.is_file(), reason="no trained linking head in this checkout")
CATALOG = load_catalog(Path(__file__).parent / "fixtures" / "brands_eval" / "catalog.yaml")


@pytest.fixture(scope="module")
def linking():
    from brandscan.engine.stages.load import load_linking
    from brandscan.engine.text.passages import load_tokenizer

    loaded, encoder, linker = load_linking(None, "cpu")
    return encoder, linker, load_tokenizer(loaded.tokenizer_file)


def run(linking, text, author=None, **options):
    from brandscan.engine.stages.linking.decide import LinkingOptions
    from brandscan.evaluation.brand_docs import link_mentions

    encoder, linker, tokenizer = linking
    return link_mentions(text, CATALOG, encoder, linker, tokenizer, 512, author, LinkingOptions(**options))


def test_pronoun_twenty_paragraphs_after_its_brand(linking):
    filler = "\n\n".join(f"Paragraph {i} talks about the weather and the roads in general terms." for i in range(20))
    text = "Delta Air Lines opened a new lounge.\n\n" + filler + "\n\nThe carrier said it would open more."
    got = {m.text: m for m in run(linking, text) if m.kind != "explicit" and m.kind != "alias"}
    assert got["The carrier"].brand == "delta"
    anchor = got["The carrier"].attribution.anchors[0]
    assert anchor.passage == 0 and text[anchor.start:anchor.end] == "Delta Air Lines"


def test_apple_pie_and_amazon_rainforest_rejected(linking):
    text = "For dessert we made Apple pie, then watched a film about the Amazon rainforest."
    assert all(m.brand is None for m in run(linking, text))


def test_we_in_a_transcript_turn(linking):
    text = "Jane Roe, CFO, Acme: We grew revenue and our margins improved."
    got = [(m.text, m.brand) for m in run(linking, text) if m.kind == "pronoun"]
    assert got == [("We", "acme"), ("our", "acme")]


@pytest.mark.parametrize("method", ["attention", "rollout"])
def test_deterministic_and_every_span_is_in_the_text(linking, method):
    text = (Path(__file__).parent / "fixtures" / "brands_eval" / "airline_news.md").read_text()
    text = text.replace("[[", "").replace("]]", "").replace("{{", "").replace("}}", "")
    text = text.replace("|delta", "").replace("|-", "")
    first, second = run(linking, text, attribution=method), run(linking, text, attribution=method)
    assert first == second
    linked = [m for m in first if m.attribution is not None]
    assert linked
    for m in first:
        assert text[m.start:m.end] == m.text
        if m.attribution is None:
            continue
        for span in m.attribution.evidence + m.attribution.anchors:
            assert text[span.start:span.end] == span.text
        if m.attribution.evidence:
            assert abs(sum(s.weight for s in m.attribution.evidence) - 1.0) < 1e-6
