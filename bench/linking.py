"""Linking + attribution overhead as a share of the encoder pass, on one long brand document.

    .venv/bin/python bench/linking.py                     # 100k tokens, attention and rollout
    .venv/bin/python bench/linking.py --tokens 20000 --threads 2

The document repeats the annotated brand documents of tests/fixtures/brands_eval (marks stripped)
until it holds --tokens word pieces, so it has the density of candidates (pronouns, nominals,
ambiguous aliases) and brands of real text. Measured in the same run, on the same document:
- encoder: the analyzer's one encoder pass with the linking adapter merged (stages/encode.py);
- candidates: find_candidates over the text;
- linking: decide.link (sense rules, attention rows, features, head, anchors, evidence spans),
  with --attribution attention and rollout.
The target (issue 4) is linking + attribution <= 25% of the encoder time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "brands_eval"


def document(tokenizer, tokens: int) -> str:  # type: ignore[no-untyped-def]
    from brandscan.evaluation.brand_docs import read_brand_docs

    texts = [d.text for d in read_brand_docs(FIXTURES)]
    per_round = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts)
    rounds = max(1, -(-tokens // per_round))
    return "\n\n".join(texts * rounds)


def best_of(repeats: int, fn):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per row")
    parser.add_argument("--dtype", default="float32", help="encoder dtype: float32, bfloat16, int8, auto")
    args = parser.parse_args()

    import torch

    from brandscan.engine.catalog import load_catalog
    from brandscan.engine.stages.candidates import candidate_tables, find_candidates
    from brandscan.engine.stages.encode import DocState, encode
    from brandscan.engine.stages.linking.decide import LinkingOptions, link
    from brandscan.engine.stages.load import load_linking
    from brandscan.engine.stages.mentions import brand_lexicon, find_explicit
    from brandscan.engine.text.passages import load_tokenizer, tokenize_document

    catalog = load_catalog(FIXTURES / "catalog.yaml")
    from brandscan.engine.config import check_dtype

    loaded, encoder, linker = load_linking(None, "cpu", check_dtype(args.dtype, "--dtype"))
    if args.threads:  # after loading: load_model sets torch's threads to all cores
        torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    text = document(tokenizer, args.tokens)
    tokens = tokenize_document(text, tokenizer)
    explicit = find_explicit(text, brand_lexicon(catalog), catalog)
    tables = candidate_tables(catalog)  # built once per catalogue, as FrontHalf does
    # The front half's steps one at a time (stages/encode.py), each timed on its own.
    window, budget = loaded.config.window, loaded.config.global_budget
    encode_s, encoded = best_of(args.repeats, lambda: encode(tokens, explicit, encoder, window=window, budget=budget))
    cand_s, candidates = best_of(args.repeats, lambda: find_candidates(text, explicit, tables))
    state = DocState(text, tokens, tuple(explicit), tuple(candidates), encoded)
    positions = encoded.global_positions
    rows = [("encoder pass (adapter merged)", encode_s, None)]
    rows.append(("candidates", cand_s, None))
    for method in ("attention", "rollout"):
        options = LinkingOptions(attribution=method)

        def run_link(options=options):  # type: ignore[no-untyped-def]  # this loop's options
            with torch.inference_mode():
                return link(state, catalog, linker, options)

        link_s, result = best_of(args.repeats, run_link)
        rows.append((f"linking + {method} attribution", link_s, len(result.mentions)))

    print(f"document: {tokens.n_tokens} tokens, {len(tokens.passages)} passages, {len(explicit)} explicit "
          f"mentions, {len(candidates)} candidates, {len(positions)} global tokens; "
          f"torch threads {torch.get_num_threads()}; dtype {loaded.dtype_name}")
    print(f"{'step':<36} {'seconds':>9} {'% of encoder':>13}")
    for name, seconds, _ in rows:
        print(f"{name:<36} {seconds:>9.2f} {100 * seconds / encode_s:>12.1f}%")
    for method, (_, link_s, _) in zip(("attention", "rollout"), rows[2:]):
        share = 100 * (cand_s + link_s) / encode_s
        print(f"overhead (candidates + linking, {method}): {share:.1f}% of the encoder "
              f"({'within' if share <= 25 else 'over'} the 25% target)")


if __name__ == "__main__":
    sys.exit(main())
