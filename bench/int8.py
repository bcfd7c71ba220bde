"""int8 against float32: drift of the final hidden states on real documents, and encoder speed.

    .venv/bin/python bench/int8.py [--threads 2] [--tokens 16k] [--pairs 5]

Drift: every shipped example and every corpus dev document goes through the analyzer's front half
(tokens, explicit mentions, global tokens) and the document encoder analyze uses (the linking
adapter merged), once in float32 and once in int8 (`--dtype int8`, engine/model/int8.py); the cosine
of each token's final hidden state is printed per set (mean, 1st percentile, min). Target: mean at
least 0.995.

Speed: bench/encoder.py's document (passages of 128 tokens, a global marker every 100 tokens) at
--tokens, float32 and int8 passes timed alternately in this one process (`--pairs` of them, after a
warm-up), so both see the same load; the median ratio of their seconds is the speed-up. Target:
int8 tokens/s at least 1.5x float32 at 16k. The machine's load average is printed with it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from encoder import document, parse_size  # noqa: E402  # the encoder bench's synthetic document

from brandscan.engine.catalog import load_catalog  # noqa: E402
from brandscan.engine.config import AnalyzerConfig  # noqa: E402
from brandscan.engine.pipeline import Analyzer  # noqa: E402
from brandscan.engine.stages.encode import front_half  # noqa: E402
from brandscan.engine.text.documents import Document, ReadOptions, iter_documents  # noqa: E402

SETS = {"examples": (ROOT / "examples", ROOT / "examples" / "brands.yaml"),
        "corpus dev": (ROOT / "corpus" / "brands" / "dev", ROOT / "corpus" / "brands" / "dev" / "catalog.yaml")}


def texts_of(folder: Path) -> list[str]:
    paths = sorted(str(p) for p in folder.iterdir() if p.suffix in (".txt", ".md", ".html", ".jsonl"))
    return [d.text for d in iter_documents(paths, ReadOptions()) if isinstance(d, Document)]


def final_states(analyzer: Analyzer, text: str) -> torch.Tensor | None:
    """(n, d) final hidden states of `text` as analyze computes them with `analyzer`'s encoder."""
    state = front_half(text, analyzer.front, analyzer.stages.encoder, window=analyzer.window,
                       budget=analyzer.global_budget)
    states = state.encoded.states
    return None if states is None else states.last_hidden


def drift(threads: int | None) -> None:
    print(f"{'documents':<12}{'docs':>6}{'tokens':>9}{'cos mean':>10}{'cos p01':>9}{'cos min':>9}")
    for name, (folder, catalog_path) in SETS.items():
        catalog = load_catalog(catalog_path)
        fp32 = Analyzer(catalog, AnalyzerConfig(dtype="float32", threads=threads))
        int8 = Analyzer(catalog, AnalyzerConfig(dtype="int8", threads=threads))
        cosines = []
        texts = texts_of(folder)
        for text in texts:
            a, b = final_states(fp32, text), final_states(int8, text)
            if a is not None and b is not None:
                cosines.append(F.cosine_similarity(a, b, dim=-1))
        c = torch.cat(cosines)
        print(f"{name:<12}{len(texts):>6}{c.numel():>9,}{c.mean().item():>10.5f}{c.quantile(0.01).item():>9.4f}"
              f"{c.min().item():>9.4f}", flush=True)


def speed(n: int, pairs: int, threads: int | None) -> None:
    from brandscan.engine.model.loader import load_model

    loaded = load_model(dtype="int8", threads=threads)
    encoders = {"float32": loaded.encoder, "int8": loaded.for_inference(loaded.encoder)}
    ids, pos, glob, _ = document(n)
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    with torch.inference_mode():
        for encoder in encoders.values():
            encoder(ids[:, :2048], pos[:, :2048], glob[:, :2048])  # warm-up
        for _ in range(pairs):
            for name, encoder in encoders.items():
                start = time.perf_counter()
                encoder(ids, pos, glob)
                seconds[name].append(time.perf_counter() - start)
    median = {name: sorted(s)[len(s) // 2] for name, s in seconds.items()}
    ratios = sorted(a / b for a, b in zip(seconds["float32"], seconds["int8"]))
    print(f"\nencoder at {n:,} tokens ({int(glob.sum())} global), {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}, medians of {pairs}")
    print(f"{'dtype':<10}{'tokens/s':>10}{'seconds':>9}")
    for name, s in median.items():
        print(f"{name:<10}{n / s:>10,.0f}{s:>9.2f}")
    print(f"int8 / float32: {median['float32'] / median['int8']:.2f}x (pairs {ratios[0]:.2f}-{ratios[-1]:.2f}); "
          "target >= 1.5x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tokens", default="16k")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--skip-drift", action="store_true", help="speed only")
    args = parser.parse_args()
    if not args.skip_drift:
        drift(args.threads)
    speed(parse_size(args.tokens), args.pairs, args.threads)


if __name__ == "__main__":
    main()
