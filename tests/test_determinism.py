"""Reports do not depend on the thread count or the number of workers (the cache key ignores both)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from brandscan.engine.model.loader import default_model_dir
from brandscan.engine.stable import ranked
from brandscan.engine.stages.linking.evidence import evidence_spans
from brandscan.engine.text.passages import load_tokenizer, tokenize_document

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BRANDSCAN = Path(sys.executable).with_name("brandscan")


def _reports(inputs: Path, *options: str) -> list[dict]:
    done = subprocess.run(
        [str(BRANDSCAN), "analyze", str(inputs), "-c", str(EXAMPLES / "brands.yaml"), "--no-cache",
         "--format", "jsonl", *options],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    for report in reports:  # the only fields that may differ between two runs
        del report["stats"]["seconds"], report["stats"]["encoder_seconds"]
    return reports


def test_threads_and_workers_do_not_change_a_report(tmp_path: Path) -> None:
    for name in ("outdoor-gear-review-thread.txt", "earnings-call.txt"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    one_worker = _reports(tmp_path, "--jobs", "1", "--threads", "2")
    two_workers = _reports(tmp_path, "--jobs", "2", "--threads", "1")
    assert len(one_worker) == 2 and all(r["mentions"] for r in one_worker)
    assert one_worker == two_workers, _differences(one_worker, two_workers)


def _differences(a: object, b: object, path: str = "", limit: int = 8) -> list[str]:
    """Where two JSON values differ, as 'path: a != b' lines (the first `limit`): a failure here has been
    rare (once in many CI runs), so it must say at once which figure moved."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{path}.{key}", limit - len(out))
            if len(out) >= limit:
                break
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _differences(x, y, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"]


def test_near_ties_rank_by_position_not_by_the_last_bits() -> None:
    # Two values that differ only in float noise are equal once rounded: the earlier one wins.
    assert ranked(np.array([0.25, 0.5, 0.5 + 1e-9, 0.25 - 1e-9])).tolist() == [1, 2, 0, 3]
    assert ranked(np.array([0.1, 0.30000004, 0.3])).tolist() == [1, 2, 0]


def test_the_evidence_word_does_not_flip_on_float_noise() -> None:
    text = "Norvik makes a sturdy jacket and a warm coat."
    tokens = tokenize_document(text, load_tokenizer(default_model_dir() / "tokenizer.json"))
    sturdy, coat = (int(np.flatnonzero(tokens.offsets[:, 0] == text.index(w))[0]) for w in ("sturdy", "coat"))
    for noise in (1e-9, -1e-9):  # whichever one the last bits favour, the earlier word is chosen
        weights = (np.array([sturdy, coat]), np.array([0.3, 0.3 + noise]))
        [span] = evidence_spans(tokens, weights, (0, 6), top=1)
        assert (span.start, span.end, span.text, span.weight) == (15, 21, "sturdy", 1.0)


def test_each_vector_math_function_runs_on_one_thread_before_any_split_call() -> None:
    # A first VML call split across threads sometimes ran a low-accuracy kernel on the worker (about 3%
    # of fresh processes; bench/vector_math.py): loading a model must call each function once on a
    # tensor too small to split, before anything calls it on a larger one.
    probe = """
import torch
from torch.overrides import TorchFunctionMode
from brandscan.engine.model.loader import load_model
from brandscan.engine.stable import VECTOR_MATH
calls = []
class Record(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in VECTOR_MATH and args and isinstance(args[0], torch.Tensor):
            calls.append((name, args[0].dtype, args[0].numel()))
        return func(*args, **(kwargs or {}))
with Record():
    load_model(None, threads=2)
for name in VECTOR_MATH:
    for dtype in (torch.float32, torch.float64):
        sizes = [n for f, d, n in calls if f == name and d == dtype]
        assert sizes and sizes[0] <= 2048, (name, dtype, sizes[:3])
print("ok", len(calls))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]
