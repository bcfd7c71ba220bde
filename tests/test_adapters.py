"""LoRA adapters: training wraps, saving writes only adapter tensors, loading merges into a copy."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from brandscan.engine.model.adapters import add_lora, load_adapter, lora_state, save_adapter
from brandscan.engine.model.encoder import Encoder, EncoderConfig

CFG = EncoderConfig(hidden=16, layers=2, heads=2, intermediate=32, vocab=50, max_positions=32, window=4)


def _inputs():
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 50, (2, 20), generator=gen)
    glob = torch.zeros(2, 20, dtype=torch.bool)
    glob[:, 0] = True
    return ids, torch.arange(20).expand(2, -1), glob


def test_merged_adapter_equals_unmerged_forward(tmp_path):
    torch.manual_seed(0)
    base = Encoder(CFG).eval()
    trained = Encoder(CFG).eval()
    trained.load_state_dict(base.state_dict())
    params = add_lora(trained, rank=4, alpha=8.0, targets=["query", "value", "up"])
    assert len(params) == 2 * 3 * 2  # A and B, three targets, two layers
    assert all(p.requires_grad for p in params)
    assert sum(p.requires_grad for p in trained.parameters()) == len(params)
    ids, pos, glob = _inputs()
    with torch.no_grad():
        assert torch.equal(trained(ids, pos, glob).last_hidden, base(ids, pos, glob).last_hidden)  # B starts at 0
    # one optimisation step moves only the adapters
    loss = trained(ids, pos, glob).last_hidden[..., :3].sum()  # (a squared norm would be flat after LayerNorm)
    loss.backward()
    with torch.no_grad():  # a plain SGD step (torch.optim's first use costs seconds of imports)
        for p in params:
            p -= 0.5 * p.grad
    save_adapter(trained, tmp_path / "adapter", {"task": "sentiment", "steps": 1})
    saved = load_file(str(tmp_path / "adapter" / "adapter.safetensors"))
    assert set(saved) == set(lora_state(trained))
    assert min(saved) == "layers.0.attention.query.lora_A" and len(saved) == 12
    meta = json.loads((tmp_path / "adapter" / "adapter.json").read_text())
    assert meta == {"format": "brandscan.adapter/1", "rank": 4, "alpha": 8.0,
                    "targets": ["query", "value", "up"], "meta": {"task": "sentiment", "steps": 1}}

    before = {k: v.clone() for k, v in base.state_dict().items()}
    merged = load_adapter(base, tmp_path / "adapter")
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # base untouched
    assert set(merged.state_dict()) == set(base.state_dict())  # a plain encoder: no extra cost
    with torch.no_grad():
        expected = trained(ids, pos, glob).last_hidden
        got = merged(ids, pos, glob).last_hidden
        plain = base(ids, pos, glob).last_hidden
    assert (expected - plain).abs().max().item() > 1e-3  # the adapter changed something
    assert (got - expected).abs().max().item() < 1e-5


def test_bad_targets_and_missing_adapter(tmp_path):
    with pytest.raises(ValueError, match="expected some of: query, key, value, out, up, down"):
        add_lora(Encoder(CFG), rank=2, alpha=2.0, targets=["dense"])
    from brandscan.engine.errors import ModelError

    with pytest.raises(ModelError, match="adapter.json: missing"):
        load_adapter(Encoder(CFG), tmp_path)


def test_training_can_start_from_a_saved_adapter(tmp_path):
    from brandscan.engine.errors import ModelError
    from brandscan.engine.model.adapters import start_from_adapter

    torch.manual_seed(0)
    base = Encoder(CFG).eval()
    trained = Encoder(CFG).eval()
    trained.load_state_dict(base.state_dict())
    for p in add_lora(trained, rank=4, alpha=8.0, targets=["query", "value"]):
        torch.nn.init.normal_(p)
    save_adapter(trained, tmp_path / "a", {"note": "test"})
    again = Encoder(CFG).eval()
    again.load_state_dict(base.state_dict())
    add_lora(again, rank=4, alpha=8.0, targets=["query", "value"])
    start_from_adapter(again, tmp_path / "a")
    ids, pos, glob = _inputs()
    with torch.no_grad():
        assert torch.equal(again(ids, pos, glob).last_hidden, trained(ids, pos, glob).last_hidden)
    other = Encoder(CFG).eval()
    add_lora(other, rank=2, alpha=8.0, targets=["query", "value"])
    with pytest.raises(ModelError, match="rank, alpha and targets"):
        start_from_adapter(other, tmp_path / "a")
