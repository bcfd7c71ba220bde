"""Startup: a one-sentence `brandscan analyze` against `python -c "import torch"`, before and after
the shipped merged weights (issue 16).

    .venv/bin/python bench/startup.py [--repeats 5] [--before 71b48e8]

"before" is the code of commit --before (the last one that merged the LoRA adapters at every
start), checked out into a temporary git worktree and imported in place of the working tree through
PYTHONPATH (the editable install's finder comes after sys.path); "after" is the working tree. Each
repeat runs, in turn: `python -c "import torch"`, then for before and after a whole `brandscan
analyze` of a one-sentence document (--no-cache, example catalogue) and a process that imports
torch and brandscan, then times `load_model` + `load_stages` (the model load). The table gives the
median of the repeats and the machine load (`uptime`). Targets: analyze at most 1.0 s beyond
importing torch, model load at most 0.5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "Acme's new trail shoes are comfortable, but the laces broke after a week.\n"
PACKAGES = ("cli", "configs", "engine", "evaluation", "training")  # brandscan.<name> -> <tree>/<name>
LOAD = """
import time, torch
from brandscan.engine.model.loader import load_model
from brandscan.engine.stages.load import load_stages
import brandscan.engine.stages.linking.decide, brandscan.engine.stages.sentiment.head
started = time.perf_counter()
load_stages(load_model(None))
print(time.perf_counter() - started)
"""


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def old_tree(rev: str, into: Path) -> dict[str, str]:
    """Check out `rev` into `into`/tree and return an environment whose `brandscan` is that code."""
    tree = into / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    package = into / "path" / "brandscan"
    package.mkdir(parents=True)
    for name in PACKAGES:
        if (tree / name).is_dir():
            (package / name).symlink_to(tree / name)
    return {**os.environ, "PYTHONPATH": str(into / "path")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default="71b48e8", help="commit whose code merged adapters at load")
    args = parser.parse_args()

    python = sys.executable
    brandscan = str(Path(python).with_name("brandscan"))
    with tempfile.TemporaryDirectory() as tmp:
        document = Path(tmp) / "one.txt"
        document.write_text(SENTENCE, encoding="utf-8")
        analyze = [brandscan, "analyze", str(document), "-c", "examples/brands.yaml", "--no-cache"]
        envs = {"after": dict(os.environ)}
        try:
            envs["before"] = old_tree(args.before, Path(tmp))
            times: dict[str, list[float]] = {"torch": []}
            for _ in range(args.repeats):
                times["torch"].append(wall([python, "-c", "import torch"], envs["after"]))
                for which in ("before", "after"):
                    times.setdefault(f"analyze {which}", []).append(wall(analyze, envs[which]))
                    done = subprocess.run([python, "-c", LOAD], cwd=ROOT, env=envs[which], check=True,
                                          capture_output=True, text=True)
                    times.setdefault(f"load {which}", []).append(float(done.stdout.strip().splitlines()[-1]))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(Path(tmp) / "tree")], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    median = {name: statistics.median(values) for name, values in times.items()}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"median of {args.repeats} runs; {load}; {os.cpu_count()} CPUs")
    print(f"{'':<8} {'import torch':>12} {'analyze':>9} {'beyond torch':>13} {'model load':>11}")
    for which in ("before", "after"):
        beyond = median[f"analyze {which}"] - median["torch"]
        print(f"{which:<8} {median['torch']:>11.2f}s {median[f'analyze {which}']:>8.2f}s {beyond:>12.2f}s "
              f"{median[f'load {which}']:>10.2f}s")
    print("target                          <= 1.00s      <= 0.50s")


if __name__ == "__main__":
    main()
