"""Whether the first parallel float exp of a fresh process is right, with and without the warm-up.

    .venv/bin/python bench/vector_math.py [--processes 400] [--threads 2]

Each fresh process sets the thread count, optionally calls `stable.warm_vector_math`, then takes the
exp of 16,896 values (one encoder chunk's log-normalizers: 12 heads x 1,408 queries, above torch's
2,048-value grain, so torch splits it across threads) twice, and says whether the two calls differ.
Processes run two at a time, as a batch with `--jobs 2` does. A process whose first call differs ran a
wrong kernel on a worker thread (see `warm_vector_math`); the table gives how many, and the largest
relative error of such a call against float64.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

PROBE = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
if sys.argv[2] == "warm":
    from brandscan.engine.stable import warm_vector_math
    warm_vector_math()
x = -torch.rand(1, 12, 1408, generator=torch.Generator().manual_seed(0)) * 10
first, second = torch.exp(x), torch.exp(x)
exact = torch.exp(x.double())
print(int((first != second).sum()), float(((first.double() - exact).abs() / exact).max()))
"""


def probe(threads: int, mode: str) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(threads), mode], capture_output=True, text=True, check=True)
    differing, error = out.stdout.split()
    return int(differing), float(error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("| first call | fresh processes | first exp differs from the second | worst relative error |")
    print("| --- | ---: | ---: | ---: |")
    for mode in ("cold", "warm"):
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(probe, [args.threads] * args.processes, [mode] * args.processes))
        odd = sum(1 for differing, _ in results if differing)
        worst = max(error for _, error in results)
        label = "without warm-up" if mode == "cold" else "after warm_vector_math"
        print(f"| {label} | {args.processes} | {odd} | {worst:.1e} |", flush=True)


if __name__ == "__main__":
    main()
