"""cli/heap.py: the CLI fixes glibc's mmap threshold for itself and for the workers it spawns, unless the
user set one."""
from __future__ import annotations

import os
import subprocess
import sys

SHOW = ("from brandscan.cli.heap import return_large_blocks; return_large_blocks(); import os; "
        "print(os.environ.get('MALLOC_MMAP_THRESHOLD_'))")


def _run(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_threshold_is_passed_on_to_spawned_workers():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    assert _run(env) == str(8 << 20)


def test_a_threshold_the_user_set_wins():
    assert _run({**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432"}) == "33554432"
