"""Whole-pipeline cost against the encoder pass alone, on one long document.

    .venv/bin/python bench/pipeline.py [--tokens 100000] [--threads 2] [--dtype float32]

Builds a document of about --tokens word pieces from the shipped examples (their passages repeated
in order), analyzes it once with the default model (after a warm-up on a short document so model
loading is not counted), and prints each stage's seconds and its share of the encoder pass measured
in the same run, and the process's peak resident memory. DESIGN.md's target: the whole analysis at
most 1.25x the encoder time.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import DTYPES, AnalyzerConfig
from brandscan.engine.pipeline import Analyzer
from brandscan.engine.text.documents import Document, ReadOptions, iter_documents

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def long_text(analyzer: Analyzer, tokens: int) -> str:
    sources = [str(p) for p in sorted(EXAMPLES.glob("*.txt"))] + [str(EXAMPLES / "annual-report-excerpt.md")]
    texts = [d.text for d in iter_documents(sources, ReadOptions()) if isinstance(d, Document)]
    base = "\n\n".join(texts)
    per_copy = len(analyzer.front.tokenizer.encode(base, add_special_tokens=False).ids)
    return "\n\n".join([base] * max(1, round(tokens / per_copy)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    args = parser.parse_args()

    import resource

    analyzer = Analyzer(load_catalog(EXAMPLES / "brands.yaml"), AnalyzerConfig(threads=args.threads, dtype=args.dtype))
    analyzer.analyze_text("Norvik Outdoor makes a jacket. It is warm.")  # load the model and heads
    text = long_text(analyzer, args.tokens)
    cpu = time.process_time()
    report = analyzer.analyze_text(text, source="bench")
    cpu = time.process_time() - cpu
    stats = report.stats
    rest = stats.seconds - stats.encoder_seconds
    print(f"document: {stats.tokens:,} tokens, {stats.passages:,} passages, {stats.global_tokens} global tokens, "
          f"{len(report.mentions):,} mentions, {len(report.opinions):,} opinions; torch threads "
          f"{torch.get_num_threads()}; process CPU {cpu:.1f} s; dtype {report.model.dtype}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    print(f"{'stage':<40}{'seconds':>10}{'x encoder':>12}")
    print(f"{'encoder pass (peer)':<40}{stats.encoder_seconds:>10.2f}{1.0:>12.3f}")
    print(f"{'everything else (match, link, sentiment)':<40}{rest:>10.2f}{rest / stats.encoder_seconds:>12.3f}")
    print(f"{'whole analysis':<40}{stats.seconds:>10.2f}{stats.seconds / stats.encoder_seconds:>12.3f}")
    print("target: whole analysis <= 1.25 x encoder")


if __name__ == "__main__":
    main()
