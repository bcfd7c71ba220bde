"""Candidates for linking: the words that may refer to a brand without naming it.

- third-person pronouns (it/its/itself, they/them/their/theirs/themselves);
- first-person plural (we/our/us...) anywhere: inside a speaker turn ("Jane Roe, CFO, Acme:") or a
  document written with `--author` it usually speaks for a brand, elsewhere usually not (an
  analyst's "we"); the turn and the author are features, the decision is the head's;
- definite, demonstrative and possessive noun phrases: a determiner, up to MAX_NP_WORDS words of
  premodifiers and head ("the company", "the Swedish retailer", "my old phone"); most name no brand
  ("the weather"), and the head learns which do. A catalogue's `nouns`, category and product nouns
  are hints (a feature), never a requirement;
- explicit mentions of ambiguous aliases ("Apple", "Amazon"): a sense decision, brand or not.

Everything here is regular expressions over the text, linear in its length; which brand (if any)
a candidate refers to is linking's job.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.mentions import ExplicitMention, brand_entries, ends_longer_name, is_single_word
from brandscan.engine.text.lexicon import Entry
from brandscan.engine.text.spans import SpanIndex

CandidateKind = Literal["pronoun", "nominal", "product", "alias"]

SINGULAR_PRONOUNS = ("it", "its", "itself")
PLURAL_PRONOUNS = ("they", "them", "their", "theirs", "themselves")
FIRST_PERSON = ("we", "us", "our", "ours", "ourselves")
# Determiners that open a candidate noun phrase. its/their/our are candidates themselves (pronouns).
DETERMINERS = ("the", "this", "that", "these", "those", "my", "your", "his", "her")
MAX_NP_WORDS = 3  # premodifiers + head after the determiner: "the big Swedish retailer"
# Heads that stand for a noun already named ("this one", "the new one", "the cheap ones"): the phrase ends
# with them. "other", "same" and "own" are premodifiers ("the other gym", "my own kettle") or a head ("the
# other"): the corpus marks all of these as references to brands and products.
PRO_HEADS = frozenset(["one", "ones"])
# Words that end a phrase once its head has begun, though they may open one: adverbs that follow a subject
# or an object ("the airline first flew", "the shop last year", "the firm well knows"), verbs whose past
# tense has no -ed and that are adjectives or nouns only before a head ("the courier left my parcel" but "the
# left pocket"; "the bank cut its rates", "the shop let me", "the firm saw profits", "the fare rose"), and
# "going" ("the brand going forward"). On the
# train split's marks none of these is the last word of a marked phrase, and phrases ran on into them 58
# times; "set" stays, a head in 9 marks ("the dearer set"). "the first" and "the last" still stand as
# phrases; "back" and number words stay ("the matte back", "the same two brands").
LATER_STOP = frozenset("first last well either instead afterwards alone everywhere far worth "
                       "put cut hit let cost rang left saw rose shut quit hurt going".split())
# Words that end a noun phrase (or show that the determiner opened none): function words, auxiliaries,
# reporting verbs, reflexives, prepositions and adverbs of time and degree, and irregular past tenses
# that are no nouns (no -ed to show them). A closed list: nouns and adjectives are open classes.
NP_STOP = frozenset("""
a an the this that these those my your his her its their our we us you i he she it they them me him
and or but nor so yet if then than as of to in on at for by with from into onto over under about after
before since until while during through between against among within without per via up down out off
is are was were be been being am has have had do does did will would shall should can could may might
must said says say told asked added not no never also just only even still very too more most much
many less least which who whom whose what when where why how all both each every some any such
another there here now again
because although though unless whereas whether cannot anyway altogether today yesterday tomorrow tonight
sold sells made makes took takes got gets went goes came comes gave gives kept keeps ran runs won wins
bought buys paid pays felt feels found finds seems seemed looks became becomes began brought built held
meant told thought knew
itself themselves himself herself myself yourself yourselves ourselves
behind ahead across around beyond near along above below beside inside outside past upon toward towards
despite throughout underneath alongside
ever once twice already always often sometimes soon later almost nearly quite rather perhaps maybe
sent lost spent grew led met sat stood fell drew threw wrote spoke broke chose drove flew ate drank sang
caught taught fought sought slept dealt lent forgot shook woke struck stole rode froze withdrew overtook
wore tore swore understood undertook""".split())
# A possessive ends the phrase it closes: in "the company's offices" the determiner belongs to "the
# company", the possessor, which is what may name a brand; the phrase it opens ("offices") has no
# determiner of its own. The possessive itself stays outside the span, as in the corpus's marks.
_POSSESSIVE = re.compile(r"(?:'s|’s|s'|s’)$", re.I)
# A clitic on a stop word is that word's contraction ("they've", "I'd", "it's", "that's"): it opens a
# clause, so it ends the phrase as the word itself would ("the best company I'd ever dealt with").
_CLITIC = re.compile(r"['’](?:s|ve|d|re|ll|m)$", re.I)
# Words that open an object: a later word in -s right before one is a verb ("the airline expects a
# record summer", "the firm employs 300"), not a plural head ("the phone makers said").
# "that" is left out: after a plural it opens a relative clause more often ("the routes that ...").
OBJECT_OPENERS = frozenset("a an the its their his her our my your this these those every some no".split())
# Words that follow a verb far more often than a plural head ("the airline relies on", "the shares trade at",
# "the carrier reports to", "the firm warns that", "the chain serves it"): object pronouns, the particles
# and prepositions that open a verb's complement, degree adverbs and number words. On the corpus's train
# split they end 242 of the 355 marked phrases that ran on into a verb, and wrongly cut 4 of the 121 that end in a
# plural head ("the aluminium cans are"); "from", "is" and punctuation, which follow both alike, are not listed.
COMPLEMENT_OPENERS = frozenset("""
it me you him them us to on that about in at for with as up out over into onto between off across through
around against toward towards most more less exactly roughly nearly almost again where what how
one two three four five six seven eight nine ten twelve twenty hundred thousand million""".split())
_NEXT_WORD = re.compile(r" ([\w’']+)")  # the word after one space

# Pleonastic "it": an idiom or a subject that stands for a clause or the weather, never for a thing named
# before ("for what it's worth", "as it happens", "it seems that", "it is clear that", "it is worth asking",
# "it was raining"). Each frame is written from the grammar, not from our documents; `is_pleonastic` says why.
# Idioms: the words right before "it" -> what must follow it.
_IDIOMS = (
    (re.compile(r"for\s+what\s+$", re.I), re.compile(r"(?:['’]s|\s+is|\s+was)\s+worth\b", re.I)),
    (re.compile(r"\bas\s+$", re.I), re.compile(r"\s+(?:happens|happened|turns\s+out|turned\s+out)\b", re.I)),
    (re.compile(r"\bworth\s+$", re.I), re.compile(r"(?!\s?[\w'’])")),  # "it was worth it." / "worth it, though"
    (re.compile(r"\bcall\s+$", re.I), re.compile(r"\s+(?:a\s+day|quits|even)\b", re.I)),
    (re.compile(r"\bthat(?:['’]s|\s+is)\s+$", re.I), re.compile(r"[.!]")),  # "That's it."
)
_COPULA = r"(?:['’]s|\s+(?:is|was|will\s+be|would\s+be|has\s+been|had\s+been))(?:\s+(?:also|not|now|quite|very|still|perhaps|probably|hardly))?"
_EXTRAPOSED = re.compile(
    r"\s+(?:seems|seemed|appears|appeared)\s+(?:that|as\s+if|as\s+though|like)\b"
    + "|" + _COPULA + r"\s+(?:clear|obvious|possible|impossible|important|true|fair\s+to\s+say|surprising|unclear"
    r"|likely|unlikely|striking|notable|odd|strange|a\s+shame|a\s+pity)\s+that\b"
    + "|" + _COPULA + r"\s+no\s+(?:surprise|wonder|secret|accident)\b"
    + "|" + _COPULA + r"\s+(?:about\s+|high\s+)?time\s+(?:to|for)\b"
    + "|" + _COPULA + r"\s+worth\s+\w+ing\b"
    + "|" + r"(?:" + _COPULA + r")?\s+(?:rained|rains|raining|snowed|snows|snowing|drizzled|drizzling|hailed|hailing)\b",
    re.I)
# Words after which "it" still opens a clause as its subject ("and it seems that", "so it was raining").
CLAUSE_OPENERS = frozenset("and but so or yet that because if when where whether while though although since until unless once "
                            "after before then now as".split())
_WORD_BEFORE_IT = re.compile(r"([\w'’-]+)[ \t]+$")


def is_pleonastic(text: str, start: int, end: int) -> bool:
    """Whether the "it" at text[start:end] refers to nothing: an idiom ("for what it's worth", "as it
    happens", "as it turns out", "worth it.", "call it a day", "that's it."), or the subject of an extraposed
    clause, a time or the weather ("it seems that", "it is clear that", "it's no wonder", "it's time to", "it
    is worth asking", "it was raining"), where "it" opens its clause (after punctuation, a line break, a
    conjunction or a relative "where": "explaining it was clear" is an object, left alone).

    The head cannot tell: it reads the pronoun's own state and the pair features, and these frames put an
    unremarkable "it" in front of an adjective or a verb that a referring "it" takes too ("it is clear and
    polite"); the corpus has few of them to learn from. Checked on the train split's marks (2026-12-07):
    of 487 "it"s in these frames none is marked as a brand reference (the frame "it turned out", where 5
    of 97 are, is left out)."""
    if text[start:end].lower() != "it":
        return False
    for before, after in _IDIOMS:
        if before.search(text, max(0, start - 12), start) and after.match(text, end):
            return True
    if _EXTRAPOSED.match(text, end) is None:
        return False
    word = _WORD_BEFORE_IT.search(text, max(0, start - 30), start)
    return word is None or word.group(1).lower() in CLAUSE_OPENERS


def is_emphatic(text: str, start: int, end: int, phrase_ends: frozenset[int]) -> bool:
    """Whether the reflexive at text[start:end] ("itself", "themselves") stands right after a noun phrase or a
    name (`phrase_ends`: where they end), as its emphasis: "the company itself", "the Fjellpeak itself". It adds
    no reference of its own: the phrase before it is the mention. The corpus mostly marks it so: of the train
    split's 215 reflexives in this place, 182 are unmarked, and 27 of the 33 marked ones repeat the mark of the
    mention right before them (2026-12-07). An object reflexive ("priced itself", "for itself") follows a verb
    or a preposition and stays a candidate. The head links such a reflexive as it would any pronoun."""
    return text[start:end].lower() in ("itself", "themselves") and text[start - 1:start] == " " \
        and (start - 1) in phrase_ends


_PRONOUN = re.compile(r"(?<![\w'’-])(" + "|".join(SINGULAR_PRONOUNS + PLURAL_PRONOUNS) + r")(?![\w-])", re.I)
_FIRST = re.compile(r"(?<![\w'’-])(" + "|".join(FIRST_PERSON) + r")(?![\w-])", re.I)
# A speaker label at the start of a line, before the turn's text on the same line or alone on its line
# (transcripts write both): "Jane Roe, CFO, Acme: We grew." / "Operator:" (at most ~80 chars).
_TURN = re.compile(r"^[ \t]*([A-Z][^\n:]{0,80}?):(?:[ \t]|[ \t\r]*$)", re.M)
# Lower-case words a speaker's name may hold ("Head of Sales", "Jan van der Berg").
NAME_PARTICLES = frozenset("of and & de van von der den da du le la al bin".split())
# Abbreviations whose full stop ends no sentence inside a label ("Dr. Ana Silva").
TITLE_ABBREVIATIONS = frozenset("mr mrs ms dr prof st".split())
_SENTENCE_END = re.compile(r"(\w+)[.?!]\s+[A-Z]")


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    text: str  # == document[start:end]
    kind: CandidateKind
    number: str | None  # "singular" | "plural" for pronouns and nominals; None for aliases
    brands: tuple[str, ...] = ()  # the only brands its form allows; () = any brand in the document
    person: int = 3  # 1 for we/our/us
    noun: str | None = None  # head noun of a nominal ("airline")
    explicit: ExplicitMention | None = None  # the ambiguous explicit mention, for kind "alias"
    in_turn: bool = False  # inside a speaker turn ("Jane Roe, CFO, Acme: ...")
    speaker: str | None = None  # the brand the enclosing turn's label names (or --author outside turns)
    # brands it cannot be: its head is their name as a common word ("the orchard") or as the end of a longer
    # proper name ("the Mississippi Delta")
    not_brands: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpeakerTurn:
    label_start: int
    label_end: int
    body_start: int
    body_end: int
    brand: str | None  # the brand the speaker's label names, if any


def speaker_turns(text: str, explicit: Sequence[ExplicitMention]) -> tuple[SpeakerTurn, ...]:
    """Transcript turns: a `Label:` at a line start runs to the next label or the end."""
    found = [m for m in _TURN.finditer(text) if is_speaker_label(m.group(1))]
    by_start = sorted(explicit, key=lambda m: (m.start, m.end))
    starts = [m.start for m in by_start]
    turns = []
    for i, match in enumerate(found):
        body_end = found[i + 1].start() if i + 1 < len(found) else len(text)
        # the mentions starting inside the label only: a transcript of 10,000 turns stays linear
        label = by_start[bisect.bisect_left(starts, match.start(1)) : bisect.bisect_left(starts, match.end(1))]
        inside = [m for m in label if m.end <= match.end(1) and not m.ambiguous]
        # The affiliation is usually last ("Jane Roe, CFO, Acme"): take the last brand named.
        brand = inside[-1].brand if inside else None
        turns.append(SpeakerTurn(match.start(1), match.end(1), match.end(), body_end, brand))
    return tuple(turns)


def is_speaker_label(label: str) -> bool:
    """Whether a line's "Label:" names a speaker rather than closing a clause of prose: its name (before
    any comma or bracket) is capitalised words, and it ends no sentence. "Jane Roe, CFO, Acme", "Operator"
    and "Maryam (Acme support)" are labels; "On the strategy" and "Thanks, Peter. On the range" (an
    answer that reads on after a colon) are not, and first person after them is no speaker's."""
    if any(m.group(1).lower() not in TITLE_ABBREVIATIONS for m in _SENTENCE_END.finditer(label)):
        return False
    words = re.split(r"[,(]", label, maxsplit=1)[0].split()
    return bool(words) and all(w[:1].isupper() or w[:1].isdigit() or w.lower() in NAME_PARTICLES for w in words)


@dataclass(frozen=True)
class CandidateTables:
    """What candidates read of a catalogue, built once per catalogue (candidate_tables), not per document:
    with 850 brands they took 8 ms a document."""

    common: dict[str, tuple[str, ...]]  # common_word_names
    names: dict[str, tuple[str, ...]]  # one_word_names
    products: frozenset[str]  # product_nouns


def candidate_tables(catalog: Catalog) -> CandidateTables:
    """The tables find_candidates reads, for `catalog`: build them once and pass them to every document."""
    return CandidateTables(common_word_names(catalog), one_word_names(catalog), product_nouns(catalog))


def find_candidates(
    text: str, explicit: Sequence[ExplicitMention], tables: CandidateTables, author: str | None = None
) -> tuple[Candidate, ...]:
    """Every candidate of the document, in text order (explicit spans are never candidates too); `tables`
    is candidate_tables of the catalogue the explicit mentions came from."""
    taken = SpanIndex.of([(m.start, m.end) for m in explicit])
    turns = speaker_turns(text, explicit)
    turn_starts = [t.body_start for t in turns]
    out: list[Candidate] = []

    def turn_of(position: int) -> tuple[bool, str | None]:
        i = bisect.bisect_right(turn_starts, position) - 1
        if i >= 0 and position < turns[i].body_end:
            return True, turns[i].brand
        return False, author

    phrases = noun_phrases(text)
    phrase_ends = frozenset([end for _, end, _ in phrases] + [m.end for m in explicit])
    for match in _PRONOUN.finditer(text):
        if taken.overlaps(match.start(), match.end()) or is_pleonastic(text, match.start(), match.end()) \
                or is_emphatic(text, match.start(), match.end(), phrase_ends):
            continue
        word = match.group(1).lower()
        number = "singular" if word in SINGULAR_PRONOUNS else "plural"
        in_turn, speaker = turn_of(match.start())
        out.append(Candidate(match.start(), match.end(), match.group(1), "pronoun", number,
                             in_turn=in_turn, speaker=speaker))
    for match in _FIRST.finditer(text):
        # "US" in capitals is the country, not "us".
        if taken.overlaps(match.start(), match.end()) or match.group(1) == "US":
            continue
        in_turn, speaker = turn_of(match.start())
        out.append(Candidate(match.start(), match.end(), match.group(1), "pronoun", "plural", person=1,
                             in_turn=in_turn, speaker=speaker))
    common, names, products = tables.common, tables.names, tables.products
    for start, end, noun in phrases:
        if taken.overlaps(start, end):
            continue
        in_turn, speaker = turn_of(start)
        kind: CandidateKind = "product" if noun in products else "nominal"
        not_brands: tuple[str, ...] = ()
        if text[end - len(noun):end] == noun:
            # The head as written: a lower-case "orchard" is the common word the brand Orchard is named after.
            not_brands = common.get(noun, ())
        elif noun in names and ends_longer_name(text, end - len(noun), end, taken):
            not_brands = names[noun]  # "the Mississippi Delta": the matcher dropped the name for the same reason
        out.append(Candidate(start, end, text[start:end], kind, "singular", noun=noun, in_turn=in_turn,
                             speaker=speaker, not_brands=not_brands))
    for m in explicit:
        if m.ambiguous:
            out.append(Candidate(m.start, m.end, m.text, "alias", None, (m.brand,), explicit=m))
    out.sort(key=lambda c: (c.start, c.end))
    return tuple(out)


_DETERMINER = re.compile(r"(?<![\w'’-])(" + "|".join(DETERMINERS) + r")\s+", re.I)
_NP_WORD = re.compile(r"[A-Za-z][\w'’-]*")


def noun_phrases(text: str) -> list[tuple[int, int, str]]:
    """(start, end, head noun lower-cased) of each determiner + premodifiers + head noun phrase.

    A phrase stops before a stop word or its contraction ("they've"), a negated auxiliary ("didn't"), punctuation, a number, a line
    break, a word after the first that ends in -ly or -ed (an adverb or a verb: "the company blamed
    ..."), or one in -s before an object (_verb_before_object); after a possessive, whose 's stays
    outside the span ("the company" of "the company's offices"); at most MAX_NP_WORDS words."""
    out = []
    for match in _DETERMINER.finditer(text):
        pos, end, head = match.end(), 0, ""
        for _ in range(MAX_NP_WORDS):
            word = _NP_WORD.match(text, pos)
            if word is None:
                break
            w = word.group().lower().rstrip("'’")
            if w in NP_STOP or _CLITIC.sub("", w) in NP_STOP or w.endswith(("n't", "n’t")) \
                    or (end and (w.endswith("ly") or w.endswith("ed"))):
                break
            if end and (w in LATER_STOP or _verb_before_object(text, word, w)):
                break
            if not end and _verb_after_singular_demonstrative(match.group(1), w):
                break
            possessive = _POSSESSIVE.search(word.group())
            if possessive:
                # "the company's" ends before the apostrophe; "the companies'" keeps its plural s
                cut = possessive.start() + (1 if possessive.group()[0] in "sS" else 0)
                end, head = word.start() + cut, word.group()[:cut].lower()
                break
            end, head = word.end(), w
            if w in PRO_HEADS:
                break
            gap = text[word.end():word.end() + 2]
            if not gap.startswith(" ") or gap[1:2] in ("", " ", "\n"):
                break  # punctuation or a line break ends the phrase
            pos = word.end() + 1
        if end:
            out.append((match.start(), end, head))
    return out


def _verb_before_object(text: str, word: re.Match[str], w: str) -> bool:
    """A later word in -s followed by an object's or a complement's first word (a determiner, a possessive, a
    number or price, an object pronoun, a particle or preposition, a degree adverb: COMPLEMENT_OPENERS)."""
    if not w.endswith("s") or w.endswith(("ss", "'s", "’s")) or not word.group()[0].islower():
        return False  # a capital is a name's ("the Channel Islands"), a possessive is no verb
    if text[word.end():word.end() + 2] in (" £", " $", " €"):
        return True  # a price is an object: "the hotel charges £80"
    after = _NEXT_WORD.match(text, word.end())
    if after is None:
        return False
    following = after.group(1).lower()
    return following in OBJECT_OPENERS or following in COMPLEMENT_OPENERS or following[0].isdigit()


# Nouns in -s that are singular ("this news", "that series"); -ss, -us, -is and -as words are too ("this
# process", "that bus", "this analysis", "that gas").
SINGULAR_IN_S = frozenset("news series species".split())


def _verb_after_singular_demonstrative(determiner: str, w: str) -> bool:
    """"this"/"that" take no plural head, so a first word in -s after them is a verb and they a pronoun or
    a conjunction ("that connects", "this means"): no noun phrase opens there."""
    return (determiner.lower() in ("this", "that") and w.endswith("s") and w not in SINGULAR_IN_S
            and not w.endswith(("ss", "us", "is", "as", "'s", "’s")))


def common_word_names(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Lower-cased one-word brand names and aliases matched only as written (ambiguous or short: "Orchard",
    "Summit") -> their brands. The matcher reads a lower-case "orchard" as no mention of Orchard; a noun
    phrase headed by it ("the orchard", "the summit of Snowdon") is the common word too. The model cannot
    tell: the encoder is uncased, so "the orchard" and "the Orchard" are the same input to it."""
    return _one_word(catalog, lambda e: e.kind in ("explicit", "alias") and e.case_sensitive
                     and e.text != e.text.lower())


def one_word_names(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Lower-cased one-word names, aliases and product names of the catalogue -> their brands."""
    return _one_word(catalog, lambda e: e.kind != "handle")


def _one_word(catalog: Catalog, keep: Callable[[Entry], bool]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for brand in catalog.brands:
        for entry in brand_entries(brand):
            if is_single_word(entry.text) and keep(entry):
                out.setdefault(entry.text.lower(), []).append(brand.id)
    return {word: tuple(dict.fromkeys(ids)) for word, ids in out.items()}


def product_nouns(catalog: Catalog) -> frozenset[str]:
    """Lower-cased `noun`s of the catalogue's products ("jacket"): nominals with them are reported as products."""
    return frozenset(p.noun.lower() for b in catalog.brands for p in b.products if p.noun)
