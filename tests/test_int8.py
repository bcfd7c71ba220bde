"""`--dtype int8` (engine/model/int8.py): int8 linears that stay close to float32, smoothed by the
shipped calibration, reachable from the CLI and refused where they cannot run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brandscan.engine.catalog import load_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.errors import ModelError
from brandscan.engine.model.int8 import (
    CALIBRATION_FILE,
    Int8Linear,
    quantize_encoder,
    read_calibration,
    smoothing,
)
from brandscan.engine.model.loader import default_model_dir, load_model, resolve_dtype
from brandscan.engine.model.merged import merged_sha256
from brandscan.engine.pipeline import Analyzer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LINKING = default_model_dir() / "heads" / "linking"


def _linear_with_outlier_input(seed: int = 0) -> tuple[nn.Linear, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(64, 48)
    x = torch.randn(300, 64, generator=gen)
    x[:, 7] *= 25.0  # one outlier channel, as MiniLM's channel 99
    return linear, x


def test_int8_linear_is_close_to_float_and_smoothing_brings_it_closer():
    linear, x = _linear_with_outlier_input()
    with torch.no_grad():
        exact = linear(x)
        plain = Int8Linear(linear)(x)
        smoothed = Int8Linear(linear, smoothing(x.abs().amax(dim=0), linear.weight, 0.65))(x)
    plain_error = ((plain - exact).norm() / exact.norm()).item()
    smoothed_error = ((smoothed - exact).norm() / exact.norm()).item()
    assert plain_error < 0.05
    assert smoothed_error < plain_error / 1.5


def test_int8_linear_rows_do_not_depend_on_each_other_or_on_blocking():
    """Per-token scales: a row's output is the same alone, in a batch, or across a row block boundary,
    so the attention rows that attribution recomputes equal the encoder's own."""
    linear, x = _linear_with_outlier_input(1)
    layer = Int8Linear(linear)
    with torch.no_grad():
        whole = layer(torch.cat([x] * 5)[None])[0]  # 1,500 rows: crosses a row block
        alone = torch.cat([layer(x[i : i + 1]) for i in range(x.shape[0])])
    assert torch.equal(whole[: x.shape[0]], alone)
    assert torch.equal(whole[-x.shape[0] :], alone)
    assert layer(x[:0]).shape == (0, 48)
    zeros = layer(torch.zeros(3, 64))
    assert torch.allclose(zeros, linear.bias.detach().expand(3, -1))


def test_quantized_encoder_shares_the_float_tensors_and_stays_close_to_float32():
    loaded = load_model(dtype="float32", threads=1)
    maxima = read_calibration(LINKING, merged_sha256(LINKING))
    assert maxima is not None and len(maxima) == 36
    int8 = quantize_encoder(loaded.encoder, maxima)
    assert int8.embeddings.word.weight is loaded.encoder.embeddings.word.weight
    assert isinstance(loaded.encoder.layers[0].ffn.up, nn.Linear)  # the float encoder is left as it was
    assert isinstance(int8.layers[0].ffn.up, Int8Linear)
    tokens = torch.randint(1000, 30000, (1, 700), generator=torch.Generator().manual_seed(0))
    positions = (torch.arange(700) % 128)[None]
    markers = positions == 0
    with torch.inference_mode():
        exact = loaded.encoder(tokens, positions, markers).last_hidden
        approx = int8(tokens, positions, markers).last_hidden
    assert F.cosine_similarity(exact, approx, dim=-1).mean().item() > 0.99


def test_int8_runs_on_cpu_only_and_calibration_must_match_the_merged_weights(tmp_path):
    assert resolve_dtype("int8", "cpu") == torch.float32
    with pytest.raises(ModelError, match="dtype int8 runs on the CPU only"):
        resolve_dtype("int8", "cuda")
    (tmp_path / CALIBRATION_FILE).write_bytes((LINKING / CALIBRATION_FILE).read_bytes())
    with pytest.raises(ModelError, match=r"measured on merged weights .* run `brandscan models merge`"):
        read_calibration(tmp_path, "0" * 64)
    assert read_calibration(tmp_path, None) is None  # no merged weights: nothing was measured on them


def test_analyze_in_int8_reports_its_dtype_and_finds_what_float32_finds():
    catalog = load_catalog(EXAMPLES / "brands.yaml")
    text = (EXAMPLES / "outdoor-gear-review-thread.txt").read_text(encoding="utf-8")
    fp32 = Analyzer(catalog, AnalyzerConfig(dtype="float32", threads=1)).analyze_text(text)
    int8 = Analyzer(catalog, AnalyzerConfig(dtype="int8", threads=1)).analyze_text(text)
    assert int8.model.dtype == "int8" and fp32.model.dtype == "float32"
    explicit = [(m.start, m.end, m.brand) for m in fp32.mentions if m.kind == "explicit"]
    explicit8 = [(m.start, m.end, m.brand) for m in int8.mentions if m.kind == "explicit"]
    assert explicit and [e[:2] for e in explicit] == [e[:2] for e in explicit8]  # the same names found
    # an ambiguous name's sense near its threshold may go either way; the rest agree
    assert sum(a == b for a, b in zip(explicit, explicit8)) >= 0.9 * len(explicit)
    linked = {(m.start, m.brand) for m in fp32.mentions if m.kind != "explicit" and m.brand}
    linked8 = {(m.start, m.brand) for m in int8.mentions if m.kind != "explicit" and m.brand}
    assert len(linked & linked8) >= 0.8 * len(linked)


def test_cli_dtype_int8(tmp_path):
    document = tmp_path / "one.txt"
    document.write_text("Norvik Outdoor makes the Fjordline Shell Jacket. It kept me dry for a week.\n", encoding="utf-8")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("brandscan")), "analyze", str(document), "-c", str(EXAMPLES / "brands.yaml"),
         "--dtype", "int8", "--no-cache", "--format", "json"], capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["model"]["dtype"] == "int8"
    assert any(m["brand"] == "norvik" for m in report["mentions"])
