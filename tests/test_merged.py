"""Shipped merged encoders (model/merged.py): equal to merging at load, verified, rebuilt by
`brandscan models merge`, never stale."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from brandscan.cli.app import app
from brandscan.engine.errors import ModelError
from brandscan.engine.model.adapters import load_adapter
from brandscan.engine.model.int8 import CALIBRATION_FILE
from brandscan.engine.model.loader import default_model_dir, load_model
from brandscan.engine.model.merged import MERGED_CONFIG, MERGED_WEIGHTS, load_merged

DEFAULT = default_model_dir()
HEADS = ("linking", "sentiment")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def loaded():
    return load_model(dtype="float32", threads=1)


def _model_copy(root: Path) -> Path:
    """The default model under `root`: big base files linked, head files copied (they get changed)."""
    out = root / "model"
    for path in DEFAULT.rglob("*"):
        target = out / path.relative_to(DEFAULT)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.parent == DEFAULT:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return out


@pytest.mark.parametrize("head", HEADS)
def test_shipped_merged_encoder_is_the_merge_at_load_bit_for_bit(loaded, head):
    merged = load_merged(loaded, loaded.heads_dir / head)
    assert merged is not None and not merged.training
    expected = load_adapter(loaded.encoder, loaded.heads_dir / head).state_dict()
    state = merged.state_dict()
    assert set(state) == set(expected)
    assert all(torch.equal(state[k], v) for k, v in expected.items())  # float32 storage: no rounding
    base = loaded.encoder.state_dict()
    changed = {k for k, v in state.items() if v.data_ptr() != base[k].data_ptr()}
    with open(loaded.heads_dir / head / MERGED_WEIGHTS, "rb") as handle:
        names = set(json.loads(handle.read(int.from_bytes(handle.read(8), "little"))))  # the header
    assert changed == names - {"__metadata__"}  # only the adapted linears are new tensors; the rest is shared
    assert len(changed) == 36 and all(k.endswith(".weight") for k in changed)


def test_shipped_files_record_their_sha256_and_stay_safetensors(loaded):
    for head in HEADS:
        body = json.loads((DEFAULT / "heads" / head / MERGED_CONFIG).read_text())
        assert body["format"] == "brandscan.merged/1" and body["dtype"] == "float32"
        assert body["base_sha256"] == loaded.sha256
        weights = DEFAULT / "heads" / head / MERGED_WEIGHTS
        assert weights.stat().st_size < 50e6
        assert weights.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle


def test_models_merge_rebuilds_the_shipped_files_and_a_tampered_file_is_exit_2(tmp_path):
    from typer.testing import CliRunner

    model = _model_copy(tmp_path)
    for head in HEADS:
        (model / "heads" / head / MERGED_CONFIG).unlink()
        (model / "heads" / head / MERGED_WEIGHTS).unlink()
    done = CliRunner().invoke(app, ["models", "merge", str(model)])
    assert done.exit_code == 0, done.output
    for head in HEADS:  # the merge is deterministic: the same bytes as the shipped ones
        assert (model / "heads" / head / MERGED_WEIGHTS).read_bytes() == (DEFAULT / "heads" / head / MERGED_WEIGHTS).read_bytes()
        shipped = json.loads((DEFAULT / "heads" / head / MERGED_CONFIG).read_text())
        assert json.loads((model / "heads" / head / MERGED_CONFIG).read_text()) == shipped
        # and the int8 calibration measured on them (model/int8.py), from the model's calibration text
        # (float sums: equal up to the thread split of the products)
        ours, shipped_maxima = (load_file(str(d / "heads" / head / CALIBRATION_FILE)) for d in (model, DEFAULT))
        assert ours.keys() == shipped_maxima.keys() and len(ours) == 36
        assert all(torch.allclose(ours[k], shipped_maxima[k], rtol=1e-4, atol=1e-5) for k in ours)

    weights = model / "heads" / "linking" / MERGED_WEIGHTS  # analyze loads the linking merge (opinions read its pass)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    weights.write_bytes(bytes(data))
    document = tmp_path / "one.txt"
    document.write_text("Acme's laces broke after a week.\n", encoding="utf-8")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("brandscan")), "analyze", str(document), "-c", str(EXAMPLES / "brands.yaml"),
         "--model", str(model), "--no-cache"], capture_output=True, text=True,
    )
    assert run.returncode == 2
    assert f"{weights}: sha256 " in run.stderr and "does not match" in run.stderr
    assert f"brandscan models merge {model}" in run.stderr and "Traceback" not in run.stderr


def test_stale_merged_weights_are_an_error_and_a_new_adapter_removes_them(tmp_path, loaded):
    from brandscan.engine.model.adapters import add_lora, save_adapter

    model = _model_copy(tmp_path)
    head = model / "heads" / "linking"
    body = json.loads((head / MERGED_CONFIG).read_text())
    (head / MERGED_CONFIG).write_text(json.dumps({**body, "adapter_sha256": "0" * 64}))
    with pytest.raises(ModelError, match=r"merged from another adapter than .*adapter.safetensors; run `brandscan models merge"):
        load_merged(loaded, head)
    (head / MERGED_CONFIG).write_text(json.dumps({**body, "base_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="merged into base 0000"):
        load_merged(loaded, head)

    encoder = load_model(str(model), dtype="float32", threads=1).encoder
    add_lora(encoder, rank=2, alpha=4.0, targets=["query"])
    save_adapter(encoder, head, {"task": "test"})
    assert not (head / MERGED_CONFIG).exists() and not (head / MERGED_WEIGHTS).exists()
    assert not (head / CALIBRATION_FILE).exists()
    assert load_merged(loaded, head) is None  # the loader merges this adapter at load instead


def test_loading_leaves_torch_initialisation_as_it_was(loaded):
    torch.manual_seed(0)
    first = torch.nn.Linear(8, 8).weight.detach().clone()
    load_model(dtype="float32", threads=1)
    torch.manual_seed(0)
    assert torch.equal(torch.nn.Linear(8, 8).weight, first)
    assert torch.nn.LayerNorm(4).weight.eq(1).all()
