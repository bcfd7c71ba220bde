"""Vectorized rollout equals the per-row algorithm it replaced; its spans are spans of the text."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine.model import rows as row_recompute
from brandscan.engine.stages.linking import attribution
from brandscan.engine.stages.linking.attribution import ROLLOUT_FANOUT, LayerAttention, rollout

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "brands_eval"
HEADS = ROOT / "engine/model/all-minilm-l6-v2/heads/linking/head.safetensors"

N, D, HEADS_N, WINDOW = 120, 16, 4, 30  # w + 1 + g = 34 keys a row, so the fanout of 16 cuts
GLOBALS = [0, 40, 41, 77]
ROWS = [3, 4, 5, 40, 60, 61, 119]  # neighbours share their strongest keys; 40 is a global row


def reference_mixed(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, row: int) -> dict[int, float]:
    """0.5 * head-mean + 0.5 * identity from the dense masked n x n softmax, one row at a time."""
    dh = D // HEADS_N
    q = (x[row] @ wq.T).view(HEADS_N, dh)  # (h, dh)
    k = (x @ wk.T).view(N, HEADS_N, dh)  # (n, h, dh)
    scores = torch.einsum("hd,nhd->hn", q, k) / math.sqrt(dh)  # (h, n)
    is_global = torch.zeros(N, dtype=torch.bool)
    is_global[GLOBALS] = True
    near = (torch.arange(N) - row).abs() <= WINDOW // 2
    allowed = is_global | near if not is_global[row] else torch.ones(N, dtype=torch.bool)
    mean = torch.softmax(scores.masked_fill(~allowed, -math.inf), dim=-1).mean(dim=0)  # (n,)
    if is_global[row]:  # a global row keeps its strongest w + 1 + g keys, renormalized
        keep = torch.zeros(N, dtype=torch.bool)
        keep[torch.topk(mean, WINDOW + 1 + len(GLOBALS)).indices] = True
        mean = torch.where(keep, mean, 0.0)
        mean = mean / mean.sum()
    out = {k: 0.5 * w for k, w in enumerate(mean.tolist()) if w > 0}
    out[row] = out.get(row, 0.0) + 0.5
    return out


def reference_rollout(weights: list[tuple[torch.Tensor, torch.Tensor]], x: list[torch.Tensor]):
    """The per-row algorithm: expand each row's strongest keys one at a time, merging dicts."""
    expanded: list[int] = []
    current = {row: reference_mixed(x[-1], *weights[-1], row) for row in ROWS}
    for (wq, wk), inputs in zip(reversed(weights[:-1]), reversed(x[:-1])):
        for row, dist in current.items():
            strongest = [k for k, _ in sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))[:ROLLOUT_FANOUT]]
            expanded += strongest
            new = {k: w for k, w in dist.items() if k not in strongest}  # the rest passes straight down
            for key in strongest:
                for k2, w2 in reference_mixed(inputs, wq, wk, key).items():
                    new[k2] = new.get(k2, 0.0) + dist[key] * w2
            current[row] = new
    return current, expanded


CHUNKINGS = {
    "one chunk": {},
    # several span-scored chunks of local rows (and gathered ones where a span is too wide)
    "spans": {"SPAN_ROWS": 2, "SPAN_KEYS": 2},
    # gathered windows in chunks of three, global rows two at a time, rollout rows two at a time
    "small": {"ROW_CHUNK": 3, "SPAN_KEYS": 0, "GLOBAL_SCORES": 2 * HEADS_N * N, "ROLLOUT_CELLS": 300},
}


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_rollout_equals_the_per_row_reference(monkeypatch: pytest.MonkeyPatch, chunking: str) -> None:
    for name, value in CHUNKINGS[chunking].items():
        # row chunking lives with the row recomputation (model/rows.py), rollout's own in attribution
        monkeypatch.setattr(attribution if name.startswith("ROLLOUT") else row_recompute, name, value)
    torch.manual_seed(0)
    weights = [(torch.randn(D, D) / 3, torch.randn(D, D) / 3) for _ in range(3)]
    x = [torch.randn(N, D) for _ in range(3)]
    layers = [LayerAttention(xi, lambda t, wq=wq: t @ wq.T, lambda t, wk=wk: t @ wk.T, HEADS_N)
              for xi, (wq, wk) in zip(x, weights)]
    got = rollout(layers, torch.tensor(ROWS), torch.tensor(GLOBALS), WINDOW)
    want, expanded = reference_rollout(weights, x)
    # the setup exercises what batching changes: shared expansion keys, and global rows below
    assert len(expanded) > len(set(expanded)) and set(GLOBALS) & set(expanded)
    assert sorted(got) == sorted(want)
    for row in ROWS:
        assert got[row].keys() == want[row].keys(), row
        for key, w in want[row].items():
            assert abs(got[row][key] - w) < 1e-6, (row, key)
        assert abs(sum(got[row].values()) - 1.0) < 1e-6


def test_rollout_of_no_rows_is_empty() -> None:
    layer = LayerAttention(torch.randn(N, D), lambda t: t, lambda t: t, HEADS_N)
    assert rollout([layer, layer], torch.zeros(0, dtype=torch.long), torch.tensor(GLOBALS), WINDOW) == {}


@pytest.mark.skipif(not HEADS.is_file(), reason="no trained linking head in this checkout")
def test_cli_rollout_spans_are_spans_of_the_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANDSCAN_CACHE_DIR", str(tmp_path / "cache"))
    text = (FIXTURES / "airline_news.md").read_text(encoding="utf-8")
    text = text.replace("[[", "").replace("]]", "").replace("{{", "").replace("}}", "")
    text = text.replace("|delta", "").replace("|-", "")
    path = tmp_path / "news.txt"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(path), "-c", str(FIXTURES / "catalog.yaml"),
                                      "--attribution", "rollout"])
    assert result.exit_code == 0, result.output
    mentions = json.loads(result.stdout)["mentions"]
    explained = [m for m in mentions if m["attribution"] and m["attribution"]["method"] == "rollout"]
    assert explained
    for m in mentions:
        assert text[m["start"]:m["end"]] == m["text"]
    for m in explained:
        spans = m["attribution"]["evidence"] + m["attribution"]["anchors"]
        assert spans
        for span in spans:
            assert text[span["start"]:span["end"]] == span["text"]


def test_strongest_keys_break_ties_to_the_lower_position() -> None:
    # row 0: four keys, two tied at the cut; row 1: fewer keys than the fanout, all expanded
    flow = attribution._Flow(np.array([0, 0, 0, 0, 1, 1]), np.array([9, 2, 5, 7, 3, 4]),
                             np.array([0.1, 0.3, 0.2, 0.2, 0.5, 0.5]))
    pick = attribution._strongest(flow, rows=2, fanout=2)
    assert flow.key[pick].tolist() == [2, 5, 3, 4]


@pytest.mark.skipif(not HEADS.is_file(), reason="no trained linking head in this checkout")
def test_the_front_half_keeps_only_the_layer_inputs_its_attribution_reads() -> None:
    # Each kept input is a copy of the whole states (1.6 GB at 1M tokens in float32): attention
    # attribution reads the last layer's, rollout the last two.
    from brandscan.engine.catalog import load_catalog
    from brandscan.engine.config import AnalyzerConfig
    from brandscan.engine.pipeline import Analyzer
    from brandscan.engine.stages.encode import front_half

    text = "Delta moved the flight. It said the crew were rested, and they left on time."
    for method, kept in (("attention", 1), ("rollout", 2)):
        analyzer = Analyzer(load_catalog(FIXTURES / "catalog.yaml"), AnalyzerConfig(attribution=method, threads=1))
        state = front_half(text, analyzer.front, analyzer.stages.encoder, window=analyzer.window,
                           budget=analyzer.global_budget)
        assert state.encoded.states is not None
        assert len(state.encoded.states.layer_inputs) == kept
        later = state.after_linking().encoded.states  # what opinions read: the final states, no layer inputs
        assert later is not None and later.layer_inputs == () and later.last_hidden is state.encoded.states.last_hidden
        linked = [m for m in analyzer.analyze_text(text).mentions if m.attribution is not None]
        assert linked and all(m.attribution.method == method for m in linked)
