"""Words and sentences: the one sentence/clause splitter, stopwords, negators, word widening.

Every stage that cuts text into sentences or asks whether a word says anything reads it here, so a
change to what ends a sentence changes passages, opinions and the linking head's features together.
"""
from __future__ import annotations

import re

# A sentence ends at terminal punctuation (with any closing quotes or brackets) followed by space.
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
# The same, with a line break also ending a sentence: list items and forum lines carry no full stop.
SENTENCE_OR_LINE_END = re.compile(SENTENCE_END.pattern + r"|\n+")
# Clause boundaries inside a sentence: contrast and concession words, semicolons, dashes, and
# commas. "great, but the delivery was terrible" holds two clauses with two different targets.
CLAUSE_BREAK = re.compile(
    r"\s*(?:[;:–—]|,|\s-\s)\s*|\s+(?=(?:but|although|though|whereas|while|however|yet|unlike)\b)",
    re.IGNORECASE,
)
WORD = re.compile(r"[\w'’-]+")
# A token opens a sentence when the text before it (skipping spaces and OPENERS) ends in one of
# SENTENCE_INITIAL_AFTER, or there is no text before it.
SENTENCE_INITIAL_AFTER = ".!?:;\n"
OPENERS = "\"'“‘([«"

NEGATORS = frozenset([
    "not", "no", "never", "nothing", "hardly", "barely", "n't", "isn't", "wasn't", "aren't",
    "weren't", "don't", "doesn't", "didn't", "won't", "can't", "cannot", "couldn't", "wouldn't",
    "shouldn't", "nobody", "none", "neither", "nor", "without"
])
# Words that draw attention in every sentence and explain nothing to a reviewer: never evidence of
# a link (stages/linking/evidence.py).
STOPWORDS = frozenset(
    "a an the and or but of to in on at for by with from as is are was were be been it its they them "
    "their this that these those he she his her we our us i you".split()
)
# Words the sentiment head may weight that say nothing on their own: never opinion spans. Wider than
# STOPWORDS (intensifiers, auxiliaries, numbers), narrower on pronouns a link's evidence may drop.
OPINION_STOPWORDS = frozenset([
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "as",
    "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these",
    "those", "i", "we", "you", "he", "she", "they", "my", "our", "your", "their", "me", "us",
    "them", "so", "very", "but", "than", "then", "if", "when", "which", "who", "what", "there",
    "here", "out", "up", "into", "about", "after", "before", "has", "have", "had", "do", "did",
    "does", "got", "get", "i'm", "i've", "they're", "it's", "we're", "you're", "one", "two", "three"
])


def opens_sentence(text: str, start: int) -> bool:
    """Whether a word starting at `start` opens a sentence (text start, after . ! ? : ; or a line
    break, with any spaces and opening quotes or brackets between)."""
    j = start - 1
    while j >= 0 and (text[j] in " \t" or text[j] in OPENERS):
        j -= 1
    return j < 0 or text[j] in SENTENCE_INITIAL_AFTER


ARTICLES = frozenset(["a", "an", "the"])
PREPOSITIONS = frozenset(["in", "on", "at", "from", "of", "to", "into", "across", "along", "up", "down", "over",
                          "near", "through", "under", "above", "beside", "by", "around", "towards", "toward"])
_BEFORE = re.compile(r"([\w'’-]+)\s+(?:([\w'’-]+)\s+)?$")
_AFTER = re.compile(r"^(['’]s\b)?\s*([\w'’-]+)?")


def name_context(text: str, start: int, end: int) -> tuple[bool, bool, bool, bool]:
    """What the words around a name text[start:end] say of its use, within its sentence: (after an
    article, after a preposition + "the" (a place: "in the Amazon"), possessive ("Summit's"), before
    a capitalised word (a longer proper name: "Summit Flarecore")). Lowercased where it matters."""
    before = _BEFORE.search(text[max(0, start - 40) : start])
    last = before.group(2) or before.group(1) if before else None
    first = before.group(1) if before and before.group(2) else None
    after = _AFTER.match(text[end : end + 40])
    following = after.group(2) if after else None
    article = last is not None and last.lower() in ARTICLES
    place = article and last.lower() == "the" and first is not None and first.lower() in PREPOSITIONS
    possessive = bool(after and after.group(1))
    capitalised = bool(following and not possessive and following[:1].isupper()
                       and text[end : end + 1] == " ")
    return article, place, possessive, capitalised
