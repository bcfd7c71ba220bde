from brandscan.engine.catalog import parse_catalog
from brandscan.engine.stages.candidates import find_candidates, speaker_turns
from brandscan.engine.stages.mentions import brand_lexicon, find_explicit

CATALOG = parse_catalog(
    """
brands:
  - id: delta
    name: Delta Air Lines
    aliases: [Delta]
    category: airline
    nouns: [airline, carrier]
  - id: apple
    name: Apple
    ambiguous: true
    context: [iPhone]
    products:
      - name: iPhone
        noun: phone
  - id: acme
    name: Acme
""",
    "test.yaml",
)


def run(text, author=None):
    explicit = find_explicit(text, brand_lexicon(CATALOG), CATALOG)
    return find_candidates(text, explicit, CATALOG, author)


def test_pronouns_and_nominals_with_number_and_brands():
    text = "Delta flies. It said the airline and the company grew; they hired, and the phone sold."
    got = [(c.text, c.kind, c.number, c.brands) for c in run(text)]
    assert got == [
        ("It", "pronoun", "singular", ()),
        ("the airline", "nominal", "singular", ("delta",)),
        ("the company", "nominal", "singular", ()),
        ("they", "pronoun", "plural", ()),
        ("the phone", "product", "singular", ("apple",)),
    ]
    for c in run(text):
        assert text[c.start:c.end] == c.text


def test_we_in_a_brand_speaker_turn_only():
    text = "Jane Roe, CFO, Acme: We grew and our margins rose.\nSam Lee, Analyst, Harbor: We think so.\n"
    got = [(c.text, c.brands, c.person) for c in run(text)]
    assert got == [("We", ("acme",), 1), ("our", ("acme",), 1)]
    turns = speaker_turns(text, find_explicit(text, brand_lexicon(CATALOG), CATALOG))
    assert [t.brand for t in turns] == ["acme", None]


def test_author_makes_we_a_candidate_outside_turns():
    assert run("We opened two stores.") == ()
    (c,) = run("We opened two stores.", author="acme")
    assert (c.text, c.brands, c.person) == ("We", ("acme",), 1)


def test_ambiguous_alias_needs_a_sense_decision_and_lowercase_fruit_is_no_candidate():
    got = run("Apple pie is sweet. I ate an apple pie.")
    assert [(c.text, c.kind, c.brands) for c in got] == [("Apple", "alias", ("apple",))]


def test_pronoun_inside_a_word_or_explicit_span_is_not_a_candidate():
    assert [c.text for c in run("Itself? Its. Kit, itinerary, it's")] == ["Itself", "Its", "it"]
