"""Coordination variants for sentiment training: spans stay exact, the joined term shares the opinion."""
import random

from brandscan.evaluation.datasets.absa import AbsaSentence, AspectTerm
from brandscan.training.sentiment_augment import aspect_vocabulary, coordination_variant, with_variants


def sentence(text: str, *terms: tuple[str, str]) -> AbsaSentence:
    spans = []
    for term, polarity in terms:
        start = text.index(term)
        spans.append(AspectTerm(term, start, start + len(term), polarity))
    return AbsaSentence("s1", text, tuple(spans))


SEED = sentence("The pasta was excellent but the waiter ignored us.", ("pasta", "positive"), ("waiter", "negative"))


def test_variant_joins_a_term_with_the_same_polarity_and_exact_spans() -> None:
    for seed in range(20):
        variant = coordination_variant(SEED, ("dessert", "wine list", "pasta"), random.Random(seed))
        assert variant is not None
        for t in variant.terms:
            assert variant.text[t.start:t.end] == t.term
        added = [t for t in variant.terms if t.term in ("dessert", "wine list")]
        assert len(added) == 1 and len(variant.terms) == 3
        joined_to = next(t for t in variant.terms if variant.text[t.end:].startswith(" and the " + added[0].term))
        assert added[0].polarity == joined_to.polarity
        assert "pasta and the pasta" not in variant.text  # terms already in the sentence are not drawn


def test_neutral_only_sentences_have_no_variant() -> None:
    flat = sentence("We ordered the soup and sat by the window.", ("soup", "neutral"), ("window", "neutral"))
    assert coordination_variant(flat, ("dessert",), random.Random(0)) is None


def test_epoch_share_is_seeded_and_keeps_the_count() -> None:
    data = [SEED] * 50
    one = with_variants(data, ("dessert",), 0.3, random.Random(7))
    two = with_variants(data, ("dessert",), 0.3, random.Random(7))
    assert one == two and len(one) == 50
    changed = sum(s is not SEED for s in one)
    assert 5 <= changed <= 25
    assert with_variants(data, ("dessert",), 0.0, random.Random(7)) == data


def test_vocabulary_keeps_frequent_terms_lower_cased() -> None:
    data = [SEED, SEED, SEED, sentence("Great Dessert.", ("Dessert", "positive"))]
    assert aspect_vocabulary(data) == ("pasta", "waiter")
