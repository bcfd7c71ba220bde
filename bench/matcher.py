"""Matcher throughput: 10,000 generated aliases on a 1 MB document, against peers in the same run.

    .venv/bin/python bench/matcher.py [--aliases 10000] [--mb 1.0] [--peer-kb 32]

Peers: one compiled `re` alternation of every alias (escaped, longest first, with word-boundary
lookarounds, IGNORECASE), and a loop of `str.find` per alias over the case-folded text. Both scan
the text once per alias or per alternative at each position, so they run on a slice of
--peer-kb and their MB/s is extrapolated; the ratio is ours / theirs.
"""
from __future__ import annotations

import argparse
import random
import re
import string
import time
from collections.abc import Callable

from brandscan.engine.text.lexicon import Entry, Lexicon


def make_aliases(count: int, rng: random.Random) -> list[str]:
    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))).capitalize()

    aliases: set[str] = set()
    while len(aliases) < count:
        aliases.add(" ".join(word() for _ in range(rng.choice((1, 1, 2, 2, 3)))))
    return sorted(aliases)


def make_document(aliases: list[str], size: int, rng: random.Random) -> str:
    """Prose-like filler with ~2% of the words being aliases, some possessive or hyphenated."""
    filler = ["the", "and", "jacket", "was", "great", "but", "shipping", "took", "two", "weeks",
              "support", "replied", "quickly", "boots", "leaked", "after", "rain", "I", "would",
              "buy", "again", "price", "fair", "not", "cheap"]
    parts: list[str] = []
    total = 0
    while total < size:
        if rng.random() < 0.02:
            piece = rng.choice(aliases) + rng.choice(("", "", "'s", "-branded", ","))
        else:
            piece = rng.choice(filler) + rng.choice(("", "", "", ".", ",", "\n"))
        parts.append(piece)
        total += len(piece) + 1
    return " ".join(parts)[:size]


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aliases", type=int, default=10_000)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--peer-kb", type=int, default=32)
    args = parser.parse_args()
    rng = random.Random(2024)
    aliases = make_aliases(args.aliases, rng)
    document = make_document(aliases, int(args.mb * 1_000_000), rng)
    mb = len(document.encode("utf-8")) / 1e6

    build = best_of(1, lambda: Lexicon.build(Entry(a, str(i), "alias", False) for i, a in enumerate(aliases)))
    lexicon = Lexicon.build(Entry(a, str(i), "alias", False) for i, a in enumerate(aliases))
    ours = best_of(3, lambda: lexicon.find(document))
    found = len(lexicon.find(document))

    piece = document[: args.peer_kb * 1000]
    piece_mb = len(piece.encode("utf-8")) / 1e6
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True))
        + r")(?!\w)", re.IGNORECASE)
    regex_s = best_of(1, lambda: list(pattern.finditer(piece)))
    folded = piece.casefold()
    lowered = [a.casefold() for a in aliases]

    def find_loop() -> int:
        hits = 0
        for alias in lowered:
            at = folded.find(alias)
            while at != -1:
                hits += 1
                at = folded.find(alias, at + 1)
        return hits

    find_s = best_of(1, find_loop)
    ours_piece = best_of(3, lambda: lexicon.find(piece))

    rows = [
        ("brandscan Lexicon", mb, ours, mb / ours),
        ("brandscan Lexicon (peer slice)", piece_mb, ours_piece, piece_mb / ours_piece),
        ("re alternation", piece_mb, regex_s, piece_mb / regex_s),
        ("str.find loop", piece_mb, find_s, piece_mb / find_s),
    ]
    print(f"{len(aliases):,} aliases; lexicon built in {build:.2f} s; {found:,} matches in "
          f"{mb:.2f} MB")
    print(f"{'matcher':<32}{'MB':>8}{'seconds':>10}{'MB/s':>10}{'ours / it':>11}")
    for name, size, seconds, rate in rows:
        print(f"{name:<32}{size:>8.3f}{seconds:>10.3f}{rate:>10.3f}{(mb / ours) / rate:>10.1f}x")


if __name__ == "__main__":
    main()
