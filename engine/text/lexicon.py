"""A phrase matcher for catalogue names and aspect terms: literal text, word boundaries, linear time.

The document is cut once into tokens: runs of word characters (letters, digits, `_`, combining
marks), single CJK characters (those scripts write words without spaces), and single other
non-space characters. A phrase is the same kind of token sequence, where the only thing that
matters between two tokens is whether there is whitespace (any amount, newlines included) or none.
So "Norvik  Outdoor" matches "Norvik\nOutdoor", "H&M" does not match "H & M", and word boundaries
come for free: "Shell" is not a token of "Shellfish", while "Acme's", "Acme’s" and "Acme-branded"
all begin with the token "Acme".

Matching walks the tokens once; from each token it extends a key one token at a time and looks it
up in a dict, stopping as soon as the key is no prefix of any phrase. The work per token is bounded
by the longest phrase, not by the number of phrases, so 10,000 aliases cost what 10 do.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate, compress
from types import MappingProxyType

__all__ = ["Entry", "Lexicon", "Match", "exact_key", "fold_key"]

_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_W = rf"[^\W{_CJK}\u02bc]"  # a word character outside the CJK scripts (U+02BC is an apostrophe)
_M = rf"[{_COMBINING}]"  # combining marks: part of the word they decorate ("e\u0301")
# Written as runs rather than one alternation per character: the `re` engine loops over a single
# character class much faster, and tokenizing is most of the cost of matching.
_TOKEN = re.compile(rf"{_W}+(?:{_M}+{_W}*)*|{_M}+(?:{_W}+{_M}*)*|[{_CJK}]|\S")
# split() with one capturing group yields [space, token, space, token, ..., space] in C.
_SPLIT = re.compile(f"({_TOKEN.pattern})")
# Typographic variants a writer's editor substitutes on its own: they should not stop a match.
_PUNCT = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201b": "'", "\u2032": "'",
                        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2010": "-", "\u2011": "-"})


@dataclass(frozen=True)
class Entry:
    text: str  # the phrase, literal (never a pattern)
    key: str  # what a match reports: a brand id, an aspect id
    kind: str  # "explicit", "alias", "product", "handle", "aspect"...
    case_sensitive: bool
    plural: bool = False  # also match "Trailblazer 2s", "iPhones", "batteries"


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    text: str  # == document[start:end]
    key: str
    kind: str


def _normalize(token: str) -> tuple[str, str]:
    """(case-kept form, case-folded form) of one token."""
    if token.isascii():
        return token, token.lower()
    exact = unicodedata.normalize("NFKC", token).translate(_PUNCT)
    # casefold maps ß to ss, so "STRASSE" and "Straße" meet; NFKC again because folding can
    # produce sequences that are not in normal form.
    return exact, unicodedata.normalize("NFKC", exact.casefold())


def _phrase_keys(text: str) -> list[tuple[str, str]]:
    """Key prefixes of a phrase at each token: [(exact, folded), ...]; the last one is the key."""
    keys: list[tuple[str, str]] = []
    exact = folded = ""
    previous_end = -1
    for match in _TOKEN.finditer(text):
        sep = " " if keys and match.start() > previous_end else ""
        ex, fo = _normalize(match.group())
        exact, folded = exact + sep + ex, folded + sep + fo
        keys.append((exact, folded))
        previous_end = match.end()
    return keys


def exact_key(text: str) -> str:
    """The key under which `text` matches case-sensitively ("" when it has no visible text)."""
    keys = _phrase_keys(text)
    return keys[-1][0] if keys else ""


def fold_key(text: str) -> str:
    """The key under which `text` matches in any case: two phrases with the same fold_key are the
    same name as far as case-insensitive matching goes."""
    keys = _phrase_keys(text)
    return keys[-1][1] if keys else ""


def _stems(token: str) -> list[str]:
    """Singular candidates of a plural token: "2s" -> "2"; "boxes" -> "boxe", "box";
    "batteries" -> ..., "battery". Only a lower-case ending counts: "IOS" is no plural of "IO"."""
    if not token.endswith("s") or len(token) < 2:
        return []
    stems = [token[:-1]]
    if token.endswith("es") and len(token) > 2:
        stems.append(token[:-2])
    if token.endswith("ies") and len(token) > 3:
        stems.append(token[:-3] + "y")
    return stems


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] == "_"


@dataclass(frozen=True)
class Lexicon:
    """Phrases to find; build once per catalogue, then `find` in any number of documents."""

    _exact: Mapping[str, Entry] = field(repr=False)
    _folded: Mapping[str, Entry] = field(repr=False)
    _prefixes: frozenset[str] = field(repr=False)  # folded keys that longer phrases extend
    _starters: frozenset[str] = field(repr=False)  # folded tokens a phrase can begin with
    _plural: bool = field(repr=False)
    size: int = 0

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Lexicon:
        """Index entries by key. When two entries have the same key and case rule, the first wins,
        so callers order entries by precedence."""
        exact: dict[str, Entry] = {}
        folded: dict[str, Entry] = {}
        prefixes: set[str] = set()
        starters: set[str] = set()
        plural = False
        size = 0
        for entry in entries:
            keys = _phrase_keys(entry.text)
            if not keys:
                raise ValueError(f"lexicon entry {entry.text!r} ({entry.key}) has no visible text")
            table, key = (exact, keys[-1][0]) if entry.case_sensitive else (folded, keys[-1][1])
            table.setdefault(key, entry)
            prefixes.update(fo for _, fo in keys[:-1])
            first = keys[0][1]
            starters.add(first)
            if entry.plural and len(keys) == 1:
                starters.update((first + "s", first + "es"))
                if first.endswith("y"):
                    starters.add(first[:-1] + "ies")
            plural = plural or entry.plural
            size += 1
        return cls(MappingProxyType(exact), MappingProxyType(folded), frozenset(prefixes),
                   frozenset(starters), plural, size)

    def find(self, text: str) -> list[Match]:
        """Matches sorted by start, non-overlapping; at each position the longest phrase wins, and a
        case-sensitive phrase beats a case-insensitive one of the same span."""
        parts = _SPLIT.split(text)
        tokens = parts[1::2]
        offsets = list(accumulate(map(len, parts), initial=0))
        starts, ends = offsets[1:-1:2], offsets[2::2]
        n = len(tokens)
        # Documents repeat their words, so each distinct token is normalized once.
        normal = {token: _normalize(token) for token in set(tokens)}
        exs = [normal[t][0] for t in tokens]
        fos = [normal[t][1] for t in tokens]
        exact_table, folded_table, prefixes = self._exact, self._folded, self._prefixes
        matches: list[Match] = []
        free = 0  # first token not yet inside a match
        # Only tokens that can begin a phrase are visited; that filter runs in C.
        for i in compress(range(n), map(self._starters.__contains__, fos)):
            if i < free:
                continue
            best: tuple[int, Entry] | None = None
            exact, folded, j = exs[i], fos[i], i
            while True:
                entry = exact_table.get(exact) or folded_table.get(folded)
                if entry is None and self._plural:
                    entry = self._plural_entry(exact[: len(exact) - len(exs[j])], exs[j],
                                               folded[: len(folded) - len(fos[j])], fos[j])
                if entry is not None and self._bounded(text, starts, ends, i, j):
                    best = (j, entry)
                j += 1
                if j >= n or folded not in prefixes:
                    break
                sep = " " if parts[2 * j] else ""
                exact, folded = exact + sep + exs[j], folded + sep + fos[j]
            if best is not None:
                j, entry = best
                matches.append(Match(starts[i], ends[j], text[starts[i]:ends[j]], entry.key,
                                     entry.kind))
                free = j + 1
        return matches

    def _plural_entry(self, exact_head: str, ex: str, folded_head: str, fo: str) -> Entry | None:
        for stem in _stems(ex):
            entry = self._exact.get(exact_head + stem)
            if entry is not None and entry.plural:
                return entry
        for stem in _stems(fo):
            entry = self._folded.get(folded_head + stem)
            if entry is not None and entry.plural:
                return entry
        return None

    @staticmethod
    def _bounded(text: str, starts: list[int], ends: list[int], i: int, j: int) -> bool:
        """Whether tokens i..j stand on their own. Word tokens always do; a phrase that begins or
        ends with punctuation must not be glued to a word ("@acme" is no handle in "x@acme.com"),
        and a number must not continue as a decimal ("Trailblazer 2" is not in "Trailblazer 2.5")."""
        first, last = text[starts[i]:ends[i]], text[starts[j]:ends[j]]
        if not _is_word(first) and i > 0 and starts[i] == ends[i - 1] \
                and _is_word(text[starts[i - 1]:ends[i - 1]]):
            return False
        n = len(starts)
        if j + 1 < n and starts[j + 1] == ends[j]:
            following = text[starts[j + 1]:ends[j + 1]]
            if not _is_word(last) and _is_word(following):
                return False
            if last.isdigit() and following in ".," and j + 2 < n and starts[j + 2] == ends[j + 1] \
                    and text[starts[j + 2]:ends[j + 2]].isdigit():
                return False
        return True
