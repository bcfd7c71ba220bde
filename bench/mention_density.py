"""Peak memory and time of a whole `brandscan analyze` as mention density grows, at the same length.

    .venv/bin/python bench/mention_density.py                 # 40k word pieces, dense and ordinary
    .venv/bin/python bench/mention_density.py --tokens 20000

Two documents of the same length in word pieces, each analyzed by a fresh `brandscan analyze
--no-cache` process (model load included), peak resident memory read from the child's rusage:
- ordinary: the annotated brand documents of tests/fixtures/brands_eval repeated (marks stripped);
- dense: sentences that are almost all ambiguous aliases and pronouns ("Apple said it would ..."),
  about one alias or pronoun mention per two word pieces.
The target (issue 14): the dense 40k-token document under 1.5 GB, and time and memory linear in
tokens whatever the density (the dense document should cost about what the ordinary one does).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "brands_eval"
DENSE = ("Apple said it would. Amazon said it did. They said Apple and Amazon were it. "
         "Delta said they and it and Apple were there. ")


def fill(unit: str, tokens: int, tokenizer) -> str:  # type: ignore[no-untyped-def]
    per = len(tokenizer.encode(unit, add_special_tokens=False).ids)
    return unit * max(1, -(-tokens // per))


# The child reports its own peak resident memory as it exits.
CHILD = ("import atexit, resource, sys\n"
         "atexit.register(lambda: print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
         "from brandscan.cli.app import main\n"
         "sys.argv = ['brandscan', *sys.argv[1:]]\n"
         "main()\n")


def run(text: str, catalog: Path, threads: int) -> tuple[float, float, int]:
    """(seconds, peak GiB, mentions) of one analyze process over `text`."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "doc.txt"
        doc.write_text(text)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, "analyze", str(doc), "-c", str(catalog), "--no-cache",
                              "--threads", str(threads)], capture_output=True, text=True, env={**os.environ})
        seconds = time.perf_counter() - started
    peak = [line.split()[1] for line in out.stderr.splitlines() if line.startswith("PEAK_KB")]
    if out.returncode or not peak:
        raise SystemExit(f"analyze failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds, int(peak[-1]) / 2**20, len(json.loads(out.stdout)["mentions"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=40_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from brandscan.engine.model.loader import load_model
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.brand_docs import read_brand_docs

    tokenizer = load_tokenizer(load_model(None).tokenizer_file)
    ordinary = fill("\n\n".join(d.text for d in read_brand_docs(FIXTURES)) + "\n\n", args.tokens, tokenizer)
    dense = fill(DENSE, args.tokens, tokenizer)
    rows = []
    for name, text in (("ordinary", ordinary), ("dense", dense)):  # the fixture catalogue: Apple, Amazon, Delta
        n = len(tokenizer.encode(text, add_special_tokens=False).ids)
        seconds, peak, mentions = run(text, FIXTURES / "catalog.yaml", args.threads)
        rows.append((name, n, mentions, seconds, peak))
    print(f"{'document':<10} {'tokens':>8} {'mentions':>9} {'seconds':>8} {'peak GiB':>9}")
    for name, n, mentions, seconds, peak in rows:
        print(f"{name:<10} {n:>8} {mentions:>9} {seconds:>8.1f} {peak:>9.2f}")
    dense_peak = rows[1][4]
    print(f"dense / ordinary: time {rows[1][3] / rows[0][3]:.2f}x, peak memory {dense_peak / rows[0][4]:.2f}x; "
          f"dense peak {dense_peak:.2f} GiB ({'within' if dense_peak <= 1.5 else 'over'} the 1.5 GB target)")


if __name__ == "__main__":
    sys.exit(main())
