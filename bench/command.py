"""The whole `brandscan analyze` command against LongformerModel's bare forward, same length, same run.

    .venv/bin/pip install transformers     # the peer only; not a brandscan dependency
    .venv/bin/python bench/command.py [--tokens 16k,32k] [--threads 2] [--dtypes float32,int8]

What a user waits for: `brandscan analyze DOC -c examples/brands.yaml --no-cache` in a fresh process
(interpreter start, imports, model and heads load, tokenizing, encoder pass, linking, attribution,
opinions, the report written), timed from outside. The document is the shipped examples' text
repeated to about --tokens word pieces (its real token count is read back from the report). The
peer is bench/encoder.py's LongformerModel (random init, hidden 384, 6 layers, 12 heads, FFN 1536,
window 256, 1% global tokens) at the same token count: only its forward pass is timed, after a
warm-up, in its own process; model construction and import are not counted. Target (issue 16): the
whole command at least 3x faster than that forward at 16k-32k tokens (goal 5x).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
sys.path.insert(0, str(ROOT / "bench"))

from encoder import parse_size, run_child  # noqa: E402  # the encoder bench's peer, in its own process


def example_text() -> str:
    parts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.txt"))]
    parts.append((EXAMPLES / "annual-report-excerpt.md").read_text(encoding="utf-8"))
    return "\n\n".join(parts)


def document(tokens: int, into: Path) -> Path:
    """The examples repeated to about `tokens` word pieces (about 1.25 word pieces per word here)."""
    base = example_text()
    copies = max(1, round(tokens / (len(base.split()) * 1.25)))
    path = into / f"doc-{tokens}.txt"
    path.write_text("\n\n".join([base] * copies), encoding="utf-8")
    return path


def analyze(path: Path, threads: int, dtype: str) -> tuple[float, int]:
    """(wall seconds of the whole command, the document's token count from its report)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(BRANDSCAN), "analyze", str(path), "-c", str(EXAMPLES / "brands.yaml"), "--no-cache", "--format", "json",
         "--threads", str(threads), "--dtype", dtype], capture_output=True, text=True, check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"brandscan analyze failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)["stats"]["tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", default="16k,32k")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--dtypes", default="float32,int8")
    args = parser.parse_args()
    print(f"threads {args.threads}; load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'tokens':>8} {'what':<34}{'seconds':>9}{'tokens/s':>10}{'vs Longformer':>15}")
    with tempfile.TemporaryDirectory(prefix="brandscan-command-") as scratch:
        for target in (parse_size(t) for t in args.tokens.split(",")):
            path = document(target, Path(scratch))
            runs = {dtype: analyze(path, args.threads, dtype) for dtype in args.dtypes.split(",")}
            n = next(iter(runs.values()))[1]
            peer = run_child("longformer", n, "fp32", args.threads, 3600, "chunk", False, 1)
            if "error" in peer:
                sys.exit(f"LongformerModel at {n} tokens: {peer['error']}")
            print(f"{n:>8} {'LongformerModel forward (peer)':<34}{peer['seconds']:>9.2f}{n / peer['seconds']:>10.0f}")
            for dtype, (seconds, _) in runs.items():
                print(f"{n:>8} {'brandscan analyze, ' + dtype + ', whole':<34}{seconds:>9.2f}{n / seconds:>10.0f}"
                      f"{peer['seconds'] / seconds:>14.2f}x", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}; target: whole command >= 3x the peer's forward (goal 5x)")


if __name__ == "__main__":
    main()
