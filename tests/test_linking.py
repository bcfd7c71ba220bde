from pathlib import Path

import pytest
import torch

from brandscan.engine.catalog import load_catalog, parse_catalog

HEADS = Path(__file__).parents[1] / "engine/model/all-minilm-l6-v2/heads/linking/head.safetensors"
pytestmark = pytest.mark.skipif(not HEADS.is_file(), reason="no trained linking head in this checkout")
CATALOG = load_catalog(Path(__file__).parent / "fixtures" / "brands_eval" / "catalog.yaml")


@pytest.fixture(scope="module")
def linking():
    from brandscan.engine.stages.load import load_linking
    from brandscan.engine.text.passages import load_tokenizer

    loaded, encoder, linker = load_linking(None, "cpu")
    return encoder, linker, load_tokenizer(loaded.tokenizer_file)


# What a new user writes: names, products, category, `ambiguous`; no nouns, no context words.
MINIMAL = parse_catalog("""
brands:
  - {id: summit, name: Summit Outdoors, aliases: [Summit], ambiguous: true, category: outdoor equipment,
     products: [{name: Summit Flarecore, aliases: [Flarecore]}]}
  - {id: apple, name: Apple, ambiguous: true, category: consumer electronics, products: [{name: iPhone}]}
  - {id: amazon, name: Amazon, ambiguous: true, category: online retailer}
  - {id: delta, name: Delta Air Lines, aliases: [Delta], category: airline}
""", "minimal.yaml")


def run(linking, text, author=None, catalog=CATALOG, **options):
    from brandscan.engine.stages.linking.decide import LinkingOptions
    from brandscan.evaluation.brand_docs import link_mentions

    encoder, linker, tokenizer = linking
    return link_mentions(text, catalog, encoder, linker, tokenizer, 512, author, LinkingOptions(**options))


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


def test_a_brand_name_written_as_a_common_noun_is_not_the_brand(linking):
    # The encoder is uncased: "the summit" and "the Summit" are one input to it; the matcher's case rule
    # decides, and the linker keeps to it.
    text = ("I've had the Summit Flarecore stove for six years and Summit's service is good. The summit of "
            "Snowdon is less reliable, and the company behind the stove has never let me down.")
    got = {m.text: m for m in run(linking, text, catalog=MINIMAL) if m.kind not in ("explicit", "alias", "product")}
    assert "The summit" not in got or got["The summit"].brand is None
    assert got["the company"].brand == "summit"


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


# The errors the issue saw on text the team did not write, each on a sentence of its own kind.
def decided(linking, text, author=None):
    return {m.text: m for m in run(linking, text, author, catalog=MINIMAL)}


def test_a_product_pronoun_right_after_the_product_is_linked(linking):
    text = ("I bought the Summit Flarecore stove for a week in the Cairngorms. It lights first time, every "
            "time, even at minus five, and it packs down small.")
    got = decided(linking, text)
    assert got["It"].brand == "summit" and got["it"].brand == "summit"


@pytest.mark.xfail(strict=True, reason="issue 14 open: the sense module keeps Apple but rejects Amazon here "
                   "(dev sense: brand 0.86, other 0.91); a strict xfail, so a model that fixes it fails this mark")
def test_ambiguous_names_in_commercial_context_are_the_brand(linking):
    text = ("Apple reported record iPhone revenue on Thursday. Amazon, meanwhile, said its cloud unit grew "
            "by a fifth, and Amazon shares rose after the results.")
    got = [m for m in run(linking, text, catalog=MINIMAL) if m.text in ("Apple", "Amazon")]
    assert [m.brand for m in got] == ["apple", "amazon", "amazon"]


def test_noun_phrases_without_catalogue_nouns_are_linked(linking):
    text = ("Delta Air Lines cut fares on transatlantic routes this spring. The Atlanta carrier said demand "
            "was strong, and the airline expects a record summer.")
    got = decided(linking, text)
    assert got["The Atlanta carrier"].brand == "delta"


def test_a_noun_phrase_before_a_verb_in_s(linking):
    text = ("Delta Air Lines cut fares on transatlantic routes this spring. The Atlanta carrier said demand "
            "was strong, and the airline expects a record summer.")
    assert decided(linking, text)["the airline"].brand == "delta"


def test_pleonastic_it_stays_unlinked(linking):
    text = ("Delta Air Lines flew me to Boston. For what it's worth, it was raining when we landed, and it seems "
            "that the crew knew. It was on time and it was worth every penny.")
    got = run(linking, text, catalog=MINIMAL)
    # the idiom, the weather and the extraposed clause are no references; the flight's "it"s are candidates
    flight = text.index("It was on time")
    assert [m.start for m in got if m.text.lower() == "it"] == [flight, text.index("it was worth")]


def test_every_linked_mention_has_anchors_and_evidence(linking):
    text = (Path(__file__).parent / "fixtures" / "brands_eval" / "airline_news.md").read_text()
    text = text.replace("[[", "").replace("]]", "").replace("{{", "").replace("}}", "")
    text = text.replace("|delta", "").replace("|-", "")
    linked = [m for m in run(linking, text) if m.brand and m.kind in ("pronoun", "nominal", "product")]
    assert linked
    assert all(m.attribution.anchors and m.attribution.evidence for m in linked)


def test_the_words_around_a_name_are_sense_features():
    from brandscan.engine.text.words import name_context

    def cues(text, name):
        start = text.index(name)
        return name_context(text, start, start + len(name))

    assert cues("We sailed up the Amazon for a week.", "Amazon") == (True, True, False, False)
    assert cues("I ordered it from Amazon last week.", "Amazon") == (False, False, False, False)
    assert cues("Summit's customer service replied.", "Summit") == (False, False, True, False)
    assert cues("visitors coming to see the Aurora Borealis.", "Aurora") == (True, False, False, True)
    assert cues("Nothing here. Aurora Air flew.", "Aurora") == (False, False, False, True)


def test_a_place_named_like_the_brand_is_rejected_in_an_annual_report(linking):
    """The shipped annual report: "the Aurora Borealis" is the sky, Aurora Air Group the airline."""
    text = (Path(__file__).parents[1] / "examples" / "annual-report-excerpt.md").read_text(encoding="utf-8")
    catalog = load_catalog(Path(__file__).parents[1] / "examples" / "brands.yaml")
    mentions = run(linking, text, catalog=catalog)
    start = text.index("Aurora Borealis")
    borealis = [m for m in mentions if m.start == start]
    assert borealis and borealis[0].brand is None
    assert any(m.brand == "aurora-air" and text[m.start:m.end] == "Aurora Air Group" for m in mentions)


def test_link_bias_trades_precision_for_recall(linking):
    """`--link-bias` moves every brand against "no brand": more links as it grows, the explicit
    mentions untouched, and 0 the head's own calibration, what a run without the option gets."""
    text = (Path(__file__).parents[1] / "examples" / "outdoor-gear-review-thread.txt").read_text(encoding="utf-8")
    catalog = load_catalog(Path(__file__).parents[1] / "examples" / "brands.yaml")
    counts, explicit = [], []
    for bias in (-2.0, 0.0, 1.25, 3.25):
        mentions = run(linking, text, catalog=catalog, link_bias=bias)
        counts.append(sum(1 for m in mentions if m.kind not in ("explicit", "alias") and m.brand))
        explicit.append([m for m in mentions if m.kind == "explicit"])
        if bias == 0.0:
            assert mentions == run(linking, text, catalog=catalog)
    assert counts[0] < counts[1] < counts[2] < counts[3]
    assert all(e == explicit[0] for e in explicit)


def test_a_seed_ensemble_reads_as_the_mean_of_its_heads_and_survives_a_round_trip(tmp_path):
    import torch

    from brandscan.engine.stages.linking.head import (
        FEATURES,
        KINDS,
        HeadEnsemble,
        LinkingHead,
        LinkingHeadConfig,
        load_head,
        save_head,
    )

    config = LinkingHeadConfig(hidden=8, width=8, sense_context=0)
    heads = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        heads.append(LinkingHead(config).eval())
    torch.manual_seed(9)
    q, e = torch.randn(4, 8), torch.randn(4, 3, 8)
    feats, kind = torch.randn(4, 3, len(FEATURES)), torch.randn(4, len(KINDS) + 2)
    mask = torch.tensor([[True, True, False]] * 4)
    ensemble = HeadEnsemble(heads).eval()
    with torch.no_grad():
        expected = torch.stack([torch.log_softmax(h(q, e, feats, mask, kind), -1) for h in heads]).mean(0)
        assert torch.allclose(ensemble(q, e, feats, mask, kind), expected)
        ensemble.none_shift.fill_(-0.5)  # calibration moves "none" only
        shifted = ensemble(q, e, feats, mask, kind)
        assert torch.allclose(shifted[:, 0], expected[:, 0] - 0.5) and torch.allclose(shifted[:, 1:], expected[:, 1:])
        save_head(ensemble, tmp_path / "head.safetensors")
        loaded = load_head(tmp_path / "head.safetensors")
        assert isinstance(loaded, HeadEnsemble) and len(loaded.members) == 3
        # float16 on disk: the same decisions, values within half precision
        assert torch.equal(loaded(q, e, feats, mask, kind).argmax(-1), shifted.argmax(-1))
        assert torch.allclose(loaded(q, e, feats, mask, kind), shifted, atol=0.02)
        single = heads[0]
        save_head(single, tmp_path / "one.safetensors")
        assert type(load_head(tmp_path / "one.safetensors")) is LinkingHead


def test_training_examples_let_go_of_the_anchor_vectors_the_head_never_reads():
    import torch

    from brandscan.engine.stages.linking.head import FEATURES, KINDS, LinkingHead, LinkingHeadConfig
    from brandscan.training.linking_head import HeadExamples, without_anchor_vectors

    torch.manual_seed(0)
    Q, E, d = 5, 3, 8
    full = HeadExamples("brands", torch.randn(Q, d), torch.randn(Q, E, d), torch.randn(Q, E, len(FEATURES)),
                        torch.ones(Q, E, dtype=torch.bool), torch.randn(Q, len(KINDS) + 2),
                        torch.zeros(Q, dtype=torch.long), torch.zeros(0, d), torch.zeros(0, 0), torch.zeros(0))
    lean = without_anchor_vectors(full)
    assert lean.evec.shape == (Q, E, 0) and lean.evec.untyped_storage().nbytes() == 0
    head = LinkingHead(LinkingHeadConfig(hidden=d, width=8)).eval()  # entity_vectors off, as trained
    with torch.no_grad():
        assert torch.equal(head(full.qvec, full.evec, full.feats, full.mask, full.kind),
                           head(lean.qvec, lean.evec, lean.feats, lean.mask, lean.kind))


# Two brands of unrelated trades: a noun phrase naming one trade must sit nearer that brand's profile.
TRADES = parse_catalog("""
brands:
  - {id: linden, name: Linden Dairy, category: dairy}
  - {id: kestrel, name: Kestrel Bank, category: bank}
  - {id: mayfly, name: Mayfly Scooters, category: e-scooter hire}
""", "trades.yaml")


def test_a_brand_profile_is_its_name_and_category_read_by_the_linking_encoder(linking):
    from brandscan.engine.stages.encode import embed_texts
    from brandscan.engine.stages.linking.profiles import BrandProfiles, profile_text

    encoder, _, tokenizer = linking
    linden, kestrel, mayfly = TRADES.brands
    assert profile_text(linden) == "Linden Dairy: dairy"
    profiles = BrandProfiles(encoder, tokenizer)
    both = profiles.vectors([kestrel, linden])
    # A vector never depends on which other brands were asked for, nor on their order.
    alone = BrandProfiles(encoder, tokenizer).vectors([linden])
    assert torch.equal(both[1], alone[0])
    # What the profile cosine tells the head: a phrase naming a trade is nearest that trade's brand, mostly
    # ("skyr" is rare enough that this encoder places it wrong; the head weighs the cosine, never obeys it).
    phrases = {"the skyr maker": 0, "the yoghurt maker": 0, "the milk producer": 0, "the lender": 1,
               "the mortgage provider": 1, "the savings bank": 1, "the scooter company": 2,
               "the e-scooter operator": 2, "the ride-hire app": 2}
    vectors = torch.nn.functional.normalize(embed_texts(list(phrases), encoder, tokenizer, 256), dim=-1)
    nearest = (vectors @ profiles.vectors([linden, kestrel, mayfly]).T).argmax(dim=1).tolist()
    assert sum(got == want for got, want in zip(nearest, phrases.values())) >= 7


def test_a_noun_phrase_naming_a_trade_links_past_more_recent_brands(linking):
    import dataclasses

    text = ("Linden Dairy opened a new yoghurt plant near Exeter this spring, with forty jobs.\n\n"
            "The money came from Kestrel Bank, which has lent to farms in the county for decades.\n\n"
            "Commuters in the city centre, meanwhile, now see Mayfly Scooters parked on every corner.\n\n"
            "The milk producer says the plant will take milk from sixty farms by the autumn.")
    encoder, linker, tokenizer = linking
    got = {m.text: m for m in run(linking, text, catalog=TRADES)}["The milk producer"]
    assert got.brand == "linden"
    # The profile cosine is what makes the head sure: without profiles the same head is less so.
    blind = dataclasses.replace(linker, profiles=None)
    without = {m.text: m for m in run((encoder, blind, tokenizer), text, catalog=TRADES)}["The milk producer"]
    assert got.probability > without.probability
