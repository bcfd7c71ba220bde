"""The matcher on real sentences: exact spans, and properties that must hold for any text."""
from __future__ import annotations

import itertools
import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from brandscan.engine.text.lexicon import Entry, Lexicon, Match, exact_key, fold_key


def lex(*phrases: str | tuple[str, bool], plural: bool = False) -> Lexicon:
    entries = []
    for phrase in phrases:
        text, sensitive = phrase if isinstance(phrase, tuple) else (phrase, False)
        entries.append(Entry(text, text.lower(), "alias", sensitive, plural))
    return Lexicon.build(entries)


def spans(lexicon: Lexicon, text: str) -> list[tuple[int, int, str]]:
    return [(m.start, m.end, m.text) for m in lexicon.find(text)]


def test_word_boundaries() -> None:
    text = "Shellfish at the Shell station; Shell-shocked, reShell and SHELL."
    assert spans(lex("Shell"), text) == [(17, 22, "Shell"), (32, 37, "Shell"), (59, 64, "SHELL")]


def test_possessives_straight_and_curly() -> None:
    text = "Acme's boots beat Acme’s jackets and ACMEʼs hats."
    assert spans(lex("Acme"), text) == [(0, 4, "Acme"), (18, 22, "Acme"), (37, 41, "ACME")]


def test_hyphenated_forms_and_hyphenated_aliases() -> None:
    text = "Acme-branded gear, a Coca-Cola, a Coca‑Cola (non-breaking), not Coca - Cola."
    found = spans(lex("Acme", "Coca-Cola"), text)
    assert found == [(0, 4, "Acme"), (21, 30, "Coca-Cola"), (34, 43, "Coca‑Cola")]


def test_plurals_of_products_include_the_s() -> None:
    lexicon = lex("Trailblazer 2", ("iPhone", True), "battery", plural=True)
    text = "Two Trailblazer 2s, three iPhones, new batteries; a Trailblazer 2’s sole."
    assert spans(lexicon, text) == [(4, 18, "Trailblazer 2s"), (26, 33, "iPhones"),
                                    (39, 48, "batteries"), (52, 65, "Trailblazer 2")]
    assert spans(lex("Trailblazer 2"), "Trailblazer 2s") == []  # plural only when asked


def test_longest_match_wins() -> None:
    lexicon = lex("Norvik", "Norvik Outdoor", "Norvik Outdoor Gear Shop")
    text = "Norvik Outdoor Gear is not Norvik Outdoor Gear Shop, but Norvik\n  Outdoor is Norvik."
    assert spans(lexicon, text) == [(0, 14, "Norvik Outdoor"), (27, 51, "Norvik Outdoor Gear Shop"),
                                    (57, 73, "Norvik\n  Outdoor"), (77, 83, "Norvik")]


def test_case_rules() -> None:
    lexicon = lex(("Apple", True), "norvik outdoor", ("BA", True))
    text = "An apple, an APPLE, Apple; NORVIK OUTDOOR and Norvik Outdoor; ba BA."
    assert spans(lexicon, text) == [(20, 25, "Apple"), (27, 41, "NORVIK OUTDOOR"),
                                    (46, 60, "Norvik Outdoor"), (65, 67, "BA")]


def test_case_sensitive_entry_beats_insensitive_one_on_the_same_span() -> None:
    lexicon = Lexicon.build([Entry("gap", "word", "aspect", False),
                             Entry("Gap", "brand", "explicit", True)])
    assert [(m.text, m.key) for m in lexicon.find("a gap at Gap")] == [("gap", "word"), ("Gap", "brand")]


def test_unicode_accents_sharp_s_and_decomposed_forms() -> None:
    lexicon = lex("Société Générale", "Straße Motors", "Zürich")
    text = "SOCIÉTÉ GÉNÉRALE, Socie\u0301te\u0301 Ge\u0301ne\u0301rale, STRASSE MOTORS, zürichsee, Zürich."
    assert spans(lexicon, text) == [
        (0, 16, "SOCIÉTÉ GÉNÉRALE"), (18, 38, "Socie\u0301te\u0301 Ge\u0301ne\u0301rale"),
        (40, 54, "STRASSE MOTORS"), (67, 73, "Zürich"),
    ]
    assert fold_key("Straße") == fold_key("STRASSE") == "strasse"
    assert exact_key("Norvik   Outdoor") == "Norvik Outdoor" and fold_key("H&M") != fold_key("H & M")


def test_cjk_names_match_without_spaces() -> None:
    assert spans(lex("索尼"), "我喜欢索尼的相机和Sony") == [(3, 5, "索尼")]


def test_handles_not_inside_emails_and_symbols_not_glued_to_words() -> None:
    lexicon = lex("@acme", "#acmegear")
    text = "Mail x@acme.com or ping @acme. Tag #acmegear, not #acmegears or a#acmegear."
    assert spans(lexicon, text) == [(24, 29, "@acme"), (35, 44, "#acmegear")]


def test_numbers_do_not_continue_as_decimals() -> None:
    assert spans(lex("Trailblazer 2"), "Trailblazer 2.5 and Trailblazer 2.") == [(20, 33, "Trailblazer 2")]


def test_aliases_are_literal_text_never_patterns() -> None:
    lexicon = lex("A.B. (Co)", "c++", ".*")
    text = "ABxCo, A.B. (Co), c++ and .* but not AxB."
    assert spans(lexicon, text) == [(7, 16, "A.B. (Co)"), (18, 21, "c++"), (26, 28, ".*")]


def test_h_and_m_spacing_is_part_of_the_name() -> None:
    assert spans(lex("H&M"), "H & M vs H&M") == [(9, 12, "H&M")]


def test_first_entry_wins_a_tie_and_empty_entries_are_refused() -> None:
    lexicon = Lexicon.build([Entry("Acme", "a", "alias", False), Entry("ACME", "b", "alias", False)])
    assert lexicon.find("acme") == [Match(0, 4, "acme", "a", "alias")]
    try:
        Lexicon.build([Entry("  ", "a", "alias", False)])
    except ValueError as error:
        assert "no visible text" in str(error)
    else:
        raise AssertionError("an entry without text was accepted")


# --- properties ------------------------------------------------------------------------------

WORDS = ["Norvik", "Outdoor", "Trailblazer", "2", "apple", "Apple", "Shell", "fish", "é", "Straße",
         "iPhone", "s", "'", "’", "-", ".", "@acme", "x", "Acme", "Coca-Cola", "索尼"]
SEPARATORS = [" ", "  ", "\n", "", "\t"]
PHRASES = ["Norvik", "Norvik Outdoor", ("Apple", True), "Shell", "Trailblazer 2", "@acme",
           "Coca-Cola", "Straße", "索尼", ("iPhone", True)]

texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=40).map(
    lambda parts: "".join(w + s for w, s in parts))
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
LEXICON = lex(*PHRASES, plural=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, free_text))
def test_matches_are_sorted_exact_slices_that_do_not_overlap(text: str) -> None:
    matches = LEXICON.find(text)
    for match in matches:
        assert text[match.start:match.end] == match.text and match.start < match.end
    for before, after in itertools.pairwise(matches):
        assert before.end <= after.start


@settings(max_examples=300, deadline=None)
@given(free_text, st.sampled_from(PHRASES), free_text)
def test_a_phrase_between_spaces_is_found(left: str, phrase: str | tuple[str, bool], right: str) -> None:
    alias = phrase[0] if isinstance(phrase, tuple) else phrase
    text = f"{left} {alias} {right}"
    start = len(left) + 1
    found = [(m.start, m.end) for m in LEXICON.find(text)]
    # Found where inserted, or inside a longer match that covers it ("Norvik" in "Norvik Outdoor").
    assert any(s <= start and start + len(alias) <= e for s, e in found), (text, found)


def test_ten_thousand_aliases_on_a_megabyte() -> None:
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))).capitalize()

    alias_set = {" ".join(word() for _ in range(rng.randint(1, 3))) for _ in range(10_000)}
    aliases = sorted(alias_set)
    lexicon = Lexicon.build(Entry(a, f"b{i}", "alias", False) for i, a in enumerate(aliases))
    filler = [word().lower() for _ in range(2_000)]
    parts, planted = [], 0
    size = 0
    while size < 1_000_000:
        piece = rng.choice(aliases) if rng.random() < 0.02 else rng.choice(filler)
        planted += piece in alias_set
        parts.append(piece)
        size += len(piece) + 1
    text = " ".join(parts)
    matches = lexicon.find(text)
    assert len(matches) >= planted and all(text[m.start:m.end] == m.text for m in matches)


REFERENCE_PHRASES = [("Norvik", False), ("Norvik Outdoor", False), ("Apple", True), ("Shell", False),
                     ("Coca-Cola", False), ("Straße", False), ("索尼", False), ("iPhone", True),
                     ("fish x", False), ("Outdoor Trailblazer", False)]


def reference_find(text: str) -> list[tuple[int, int]]:
    """Leftmost-longest by brute force: every token span is re-keyed from its own text."""
    from brandscan.engine.text.lexicon import _TOKEN  # the token definition itself is tested above

    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    wanted = {(exact_key(p) if s else fold_key(p), s) for p, s in REFERENCE_PHRASES}
    found, i = [], 0
    while i < len(tokens):
        ends = [j for j in range(i, len(tokens))
                if (exact_key(text[tokens[i][0]:tokens[j][1]]), True) in wanted
                or (fold_key(text[tokens[i][0]:tokens[j][1]]), False) in wanted]
        if ends:
            found.append((tokens[i][0], tokens[max(ends)][1]))
            i = max(ends) + 1
        else:
            i += 1
    return found


@settings(max_examples=200, deadline=None)
@given(texts)
def test_find_agrees_with_a_brute_force_reference(text: str) -> None:
    lexicon = Lexicon.build(Entry(p, p, "alias", s) for p, s in REFERENCE_PHRASES)
    assert [(m.start, m.end) for m in lexicon.find(text)] == reference_find(text)


def test_full_width_and_ligature_forms_match() -> None:
    assert spans(lex("Norvik"), "ＮＯＲＶＩＫ and Norvik") == [(0, 6, "ＮＯＲＶＩＫ"), (11, 17, "Norvik")]
    assert spans(lex("Fjordline"), "the ﬁne Fjordline") == [(8, 17, "Fjordline")]
