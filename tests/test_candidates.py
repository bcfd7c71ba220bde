from hypothesis import given
from hypothesis import strategies as st

from brandscan.engine.catalog import parse_catalog
from brandscan.engine.stages.candidates import candidate_tables, find_candidates, is_pleonastic, speaker_turns
from brandscan.engine.stages.mentions import brand_lexicon, find_explicit
from brandscan.engine.text.spans import SpanIndex

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
    return find_candidates(text, explicit, candidate_tables(CATALOG), author)


def phrases(text):
    """The noun-phrase candidates of `text`, as written."""
    return [c.text for c in run(text) if c.kind != "pronoun"]


def test_pronouns_and_every_definite_noun_phrase_are_candidates():
    text = "Delta flies. It said the airline and the big Swedish retailer grew; they hired, and my old phone sold."
    got = [(c.text, c.kind, c.number, c.noun) for c in run(text)]
    assert got == [
        ("It", "pronoun", "singular", None),
        ("the airline", "nominal", "singular", "airline"),
        ("the big Swedish retailer", "nominal", "singular", "retailer"),
        ("they", "pronoun", "plural", None),
        ("my old phone", "product", "singular", "phone"),  # the catalogue gives "phone" to a product
    ]
    for c in run(text):
        assert text[c.start:c.end] == c.text


def test_a_noun_phrase_stops_at_function_words_verbs_and_punctuation():
    text = "Then the company blamed the weather, and that the board of the firm quickly agreed."
    assert [c.text for c in run(text)] == ["the company", "the weather", "the board", "the firm"]


def test_a_possessive_closes_its_noun_phrase_outside_the_span():
    text = ("Delta flies. The airline's crew smiled, the carriers' lounges were full, "
            "and the firm itself stayed quiet about the company’s plans.")
    got = [(c.text, c.noun) for c in run(text) if c.kind != "pronoun"]
    assert got == [("The airline", "airline"), ("the carriers", "carriers"), ("the firm", "firm"),
                   ("the company", "company")]


def test_a_word_in_s_before_an_object_is_a_verb_that_ends_the_phrase():
    text = ("Delta flies. The airline expects a record summer, the firm employs 300 pilots, the phone makers "
            "said little, the Channel Islands a ferry serves are near, and the company didn't reply.")
    assert phrases(text) == ["The airline", "the firm", "the phone makers", "the Channel Islands", "the company"]


def test_a_word_in_s_before_a_complement_is_a_verb_that_ends_the_phrase():
    text = ("The regional carrier relies on Leeds, the shares now trade high, the chain serves it well, the "
            "group warns that costs rise, the carrier reports to Leeds, and the aluminium cans are fine.")
    assert phrases(text) == ["The regional carrier", "the shares", "the chain", "the group", "the carrier", "the aluminium cans"]


def test_one_other_same_and_own_make_phrases_and_subordinators_end_them():
    text = ("This one is fine, the new one failed, and the other gym is cheaper than my own kettle; the same maker "
            "sold the shop because the firm cannot wait.")
    got = [(c.text, c.noun) for c in run(text) if c.kind != "pronoun"]
    assert got == [("This one", "one"), ("the new one", "one"), ("the other gym", "gym"), ("my own kettle", "kettle"),
                   ("the same maker", "maker"), ("the shop", "shop"), ("the firm", "firm")]


def test_adverbs_and_prices_end_a_phrase_that_has_begun():
    text = ("The airline first flew in May, the hotel charges £80, the first was best, and so are the same two brands, "
            "and the matte back.")
    assert phrases(text) == ["The airline", "the hotel", "the first", "the same two brands", "the matte back"]


def test_prepositions_adverbs_and_irregular_past_tenses_end_the_phrase():
    text = "Delta said the brand behind it grew; the carrier once sent me vouchers, and the shop ever lost none."
    assert phrases(text) == ["the brand", "the carrier", "the shop"]


def test_a_past_tense_without_ed_ends_a_phrase_but_may_open_one():
    text = ("The courier left my parcel in the rain, the bank cut its rates, the fare rose, the shop let me in "
            "and the firm saw profits; the left pocket, the dearer set.")
    assert phrases(text) == ["The courier", "my parcel", "the rain", "the bank", "the fare", "the shop", "the firm",
                             "the left pocket", "the dearer set"]


def test_this_or_that_before_a_verb_in_s_opens_no_phrase():
    text = ("It is the app that connects the two, and this means work; this process, that news, this bus. "
            "Those jackets too.")
    assert phrases(text) == ["the app", "the two", "this process", "that news", "this bus", "Those jackets"]


def test_a_phrase_headed_by_a_brand_name_in_lower_case_cannot_be_that_brand():
    text = "Apple sells phones. I ate the apple and the red apples; the phone is fine."
    got = {c.text: c.not_brands for c in run(text) if c.kind in ("nominal", "product")}
    assert got == {"the apple": ("apple",), "the red apples": (), "the phone": ()}


def test_a_contracted_pronoun_or_auxiliary_ends_the_phrase():
    text = ("They were the best company I'd ever dealt with, and you're right that they've grown. "
            "It was the best shell I’ve owned; the firm we're with is fine and the shop it's in is shut.")
    assert phrases(text) == ["the best company", "the best shell", "the firm", "the shop"]


def test_first_person_everywhere_with_its_turn_and_speaker():
    text = "Jane Roe, CFO, Acme: We grew and our margins rose.\nSam Lee, Analyst, Harbor: We think so.\n"
    got = [(c.text, c.person, c.in_turn, c.speaker) for c in run(text) if c.person == 1]
    assert got == [("We", 1, True, "acme"), ("our", 1, True, "acme"), ("We", 1, True, None)]
    turns = speaker_turns(text, find_explicit(text, brand_lexicon(CATALOG), CATALOG))
    assert [t.brand for t in turns] == ["acme", None]


def test_a_label_alone_on_its_line_opens_a_turn_and_prose_before_a_colon_does_not():
    text = ("Operator:\nOur first question comes from Sam.\n\nJane Roe, CFO, Acme:\nThanks, Sam. On the range: "
            "we are confident.\nOn the strategy: we stay the course.\n\nSam Lee, Analyst, Harbor:\nWe agree.\n")
    turns = speaker_turns(text, find_explicit(text, brand_lexicon(CATALOG), CATALOG))
    assert [text[t.label_start:t.label_end] for t in turns] == ["Operator", "Jane Roe, CFO, Acme", "Sam Lee, Analyst, Harbor"]
    got = [(c.text, c.speaker) for c in run(text) if c.person == 1]
    assert got == [("Our", None), ("we", "acme"), ("we", "acme"), ("We", None)]


def test_a_speaker_label_is_a_name_before_any_title_and_ends_no_sentence():
    from brandscan.engine.stages.candidates import is_speaker_label

    for label in ("Jane Roe, CFO, Acme", "Operator", "Maryam (Acme support)", "Callum Reyes, head of aftersales, Acme",
                  "Head of Sales", "Dr. Ana Silva, analyst", "Tamar_Tom"):
        assert is_speaker_label(label), label
    for label in ("On the strategy", "Thanks, Peter. On the range", "For the record, my view was simple",
                  "Hi, thanks. First, on Aurora Connect"):
        assert not is_speaker_label(label), label


def test_author_is_the_speaker_outside_turns_and_capital_us_is_the_country():
    (c,) = run("We opened two stores.")
    assert (c.text, c.person, c.in_turn, c.speaker) == ("We", 1, False, None)
    (c,) = run("We opened two stores.", author="acme")
    assert c.speaker == "acme"
    assert [c.text for c in run("Sales in the US: up. Call us.")] == ["us"]


def test_a_two_word_name_of_an_ambiguous_brand_is_not_ambiguous():
    catalog = parse_catalog("brands:\n  - id: heron-air\n    name: Heron Air\n    aliases: [Heron]\n"
                            "    ambiguous: true\n", "t.yaml")
    explicit = find_explicit("Heron Air flew. A heron flew. Heron said so.", brand_lexicon(catalog), catalog)
    assert [(m.text, m.ambiguous) for m in explicit] == [("Heron Air", False), ("Heron", True)]


def test_ambiguous_alias_needs_a_sense_decision_and_lowercase_fruit_is_no_candidate():
    got = run("Apple pie is sweet. I ate an apple pie.")
    assert [(c.text, c.kind, c.brands) for c in got] == [("Apple", "alias", ("apple",))]


def test_pronoun_inside_a_word_or_explicit_span_is_not_a_candidate():
    assert [c.text for c in run("Itself? Its. Kit, itinerary, it's")] == ["Itself", "Its", "it"]


_SPAN = st.tuples(st.integers(0, 200), st.integers(1, 12)).map(lambda p: (p[0], p[0] + p[1]))


@given(st.lists(_SPAN, max_size=30), _SPAN)
def test_span_index_overlaps_exactly_when_some_span_does(spans, probe):
    start, end = probe
    assert SpanIndex.of(spans).overlaps(start, end) == any(s < end and start < e for s, e in spans)


def test_a_name_that_ends_a_longer_proper_name_is_no_mention_and_its_phrase_no_brand():
    text = ("We flew Delta over the Mississippi Delta. My friend Kwame Delta runs the stall; Apple's iPhone died. "
            "Why I Switched To Delta\n\n## Delta\n\nAfter Delta, the Great Delta won.")
    found = [(m.start, m.text) for m in find_explicit(text, brand_lexicon(CATALOG), CATALOG)]
    # kept: the airline, a possessive ("Apple's iPhone"), after a function word of a title, at a line or sentence start
    assert [t for _, t in found] == ["Delta", "Apple", "iPhone", "Delta", "Delta", "Delta"]
    got = {c.text: c.not_brands for c in run(text) if c.kind in ("nominal", "product")}
    assert got["the Mississippi Delta"] == ("delta",) and got["the Great Delta"] == ("delta",)
    assert got["the stall"] == ()


def test_pleonastic_it_is_no_candidate_and_a_referring_it_in_the_same_frames_is():
    def pleonastic(marked):  # the "it" in question is in brackets
        at = marked.index("[")
        text = marked.replace("[", "").replace("]", "")
        return is_pleonastic(text, at, at + 2)

    for marked in ("For what [it]'s worth, the seats are fine.", "The bag, as [it] happens, was late.",
                   "As [it] turned out, nobody came.", "[It] seems that the bank knew.",
                   "and [it] is clear that fares rise", "[It] was raining in Oslo.", "a place where [it] rains",
                   "so [it] snowed", "[It] is worth asking why.", "[It] is unlikely that fares fall.",
                   "It was worth [it].", "Let's call [it] a day.", "That's [it]!", "[It]'s no wonder fares rose.",
                   "[It]'s time to switch."):
        assert pleonastic(marked), marked
    for marked in ("[It] is worth every penny.", "[It] is clear and polite.", "[It] turned out to be great.",
                   "The email explaining [it] was clear that", "[It] is unlikely to fall.", "[It] seems fine.",
                   "It was worth [it] to me", "[It]'s no good.", "[It]'s time that matters"):
        assert not pleonastic(marked), marked
    got = [c.text for c in run("For what it's worth, Acme ships fast. It was raining; it still came.")
           if c.kind == "pronoun"]
    assert got == ["it"]


def test_an_emphatic_reflexive_after_a_phrase_or_name_is_no_candidate_and_an_object_one_is():
    text = "The trip itself was fine. Acme itself said so, and the firms themselves agree. Acme priced itself well."
    assert [c.text for c in run(text) if c.kind == "pronoun"] == ["itself"]
    assert text.index("priced itself") + len("priced ") == [c.start for c in run(text) if c.kind == "pronoun"][0]
