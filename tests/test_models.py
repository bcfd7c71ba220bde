"""Model registry, loading, conversion and the `brandscan models` commands."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine.errors import ModelError
from brandscan.engine.model.convert import convert_checkpoint, map_hf_name
from brandscan.engine.model.loader import default_model_dir, list_models, load_model

DEFAULT = default_model_dir()


def test_default_model_files_and_hash():
    files = {p.name for p in DEFAULT.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "LICENSE", "NOTICE", "MODEL_CARD.md"} <= files
    assert (DEFAULT / "model.safetensors").stat().st_size < 46e6
    assert "Apache License" in (DEFAULT / "LICENSE").read_text()
    model = load_model(dtype="float32", threads=1)
    expected = hashlib.sha256(b"".join((DEFAULT / f).read_bytes() for f in ("config.json", "model.safetensors", "tokenizer.json")))
    assert model.sha256 == expected.hexdigest()
    assert model.name == "all-minilm-l6-v2"
    assert model.dtype == torch.float32 and not model.encoder.training
    assert model.heads_dir == DEFAULT / "heads"
    assert torch.get_num_threads() == 1
    assert model.config.window == 256 and model.config.hidden == 384
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_name_mapping():
    assert map_hf_name("bert.encoder.layer.3.attention.self.key.bias") == "layers.3.attention.key.bias"
    assert map_hf_name("encoder.layer.0.output.LayerNorm.gamma") == "layers.0.ffn_norm.weight"
    assert map_hf_name("embeddings.LayerNorm.beta") == "embeddings.norm.bias"
    assert map_hf_name("pooler.dense.weight") is None
    assert map_hf_name("longformer.encoder.layer.0.attention.self.query_global.weight") is None


def _tiny_hf_checkpoint(directory: Path, model_type: str = "bert") -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    offset = 2 if model_type == "roberta" else 0
    d, inter, vocab, positions = 8, 16, 30522, 16 + offset
    tensors = {
        "embeddings.word_embeddings.weight": torch.randn(vocab, d),
        "embeddings.position_embeddings.weight": torch.randn(positions, d),
        "embeddings.token_type_embeddings.weight": torch.randn(2, d),
        "embeddings.LayerNorm.weight": torch.rand(d) + 0.5,
        "embeddings.LayerNorm.bias": torch.randn(d),
        "pooler.dense.weight": torch.randn(d, d),
    }
    for i in range(2):
        pre = f"encoder.layer.{i}."
        for name, shape in [("attention.self.query", (d, d)), ("attention.self.key", (d, d)),
                            ("attention.self.value", (d, d)), ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (inter, d)), ("output.dense", (d, inter))]:
            tensors[pre + name + ".weight"] = torch.randn(shape) * 0.3
            tensors[pre + name + ".bias"] = torch.randn(shape[0]) * 0.1
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[pre + name + ".weight"] = torch.rand(d) + 0.5
            tensors[pre + name + ".bias"] = torch.randn(d) * 0.1
    directory.mkdir(parents=True)
    save_file(tensors, str(directory / "model.safetensors"))
    config = {"model_type": model_type, "hidden_size": d, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": inter, "vocab_size": vocab, "max_position_embeddings": positions,
              "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 1 if offset else 0}
    (directory / "config.json").write_text(json.dumps(config))
    shutil.copy(DEFAULT / "tokenizer.json", directory / "tokenizer.json")
    (directory / "README.md").write_text("---\nlicense: mit\n---\n# tiny-bert\nA test model.\n")
    (directory / "LICENSE").write_text("MIT License\n")
    return tensors


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_convert_then_load_equals_loading_the_checkpoint(tmp_path, model_type):
    tensors = _tiny_hf_checkpoint(tmp_path / "hf", model_type)
    out = convert_checkpoint(tmp_path / "hf", tmp_path / "tiny", dtype="fp32")
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "brandscan.model/1" and config["source"]["model"] == "tiny-bert"
    assert config["encoder"]["max_positions"] == 16
    assert "(mit)" in (out / "NOTICE").read_text()
    converted = load_model(str(out), dtype="float32", threads=1)
    direct = load_model(str(tmp_path / "hf"), dtype="float32", threads=1)
    offset = 2 if model_type == "roberta" else 0
    assert torch.equal(converted.encoder.embeddings.position.weight,
                       tensors["embeddings.position_embeddings.weight"][offset:])
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    pos = torch.arange(6)[None]
    glob = torch.zeros(1, 6, dtype=torch.bool)
    with torch.inference_mode():
        a = converted.encoder(ids, pos, glob).last_hidden
        b = direct.encoder(ids, pos, glob).last_hidden
    assert torch.equal(a, b)
    assert converted.sha256 != direct.sha256


def test_fp16_storage_keeps_measurements_section(tmp_path):
    _tiny_hf_checkpoint(tmp_path / "hf")
    out = tmp_path / "tiny"
    convert_checkpoint(tmp_path / "hf", out)
    card = (out / "MODEL_CARD.md").read_text()
    (out / "MODEL_CARD.md").write_text(card + "\n## Measurements\nbf16 cosine 0.999\n")
    convert_checkpoint(tmp_path / "hf", out)
    assert (out / "MODEL_CARD.md").read_text().endswith("## Measurements\nbf16 cosine 0.999\n")
    assert json.loads((out / "config.json").read_text())["storage_dtype"] == "float16"


def test_heads_folder_is_exposed_and_not_hashed(tmp_path, monkeypatch):
    _tiny_hf_checkpoint(tmp_path / "hf")
    root = tmp_path / "models"
    out = convert_checkpoint(tmp_path / "hf", root / "tiny", dtype="fp32")
    monkeypatch.setenv("BRANDSCAN_MODELS", str(root))
    before = load_model("tiny", threads=1).sha256
    (out / "heads").mkdir()
    (out / "heads" / "linking.safetensors").write_bytes(b"x")
    model = load_model("tiny", threads=1)
    assert model.sha256 == before
    assert model.heads_dir == out / "heads"
    entries = {e.name: e for e in list_models()}
    assert set(entries) == {"all-minilm-l6-v2", "tiny"}
    assert entries["tiny"].heads == ("linking.safetensors",)
    assert entries["tiny"].license == "mit"


def test_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model name or directory; installed models: all-minilm-l6-v2"):
        load_model("nope")
    with pytest.raises(ModelError, match="dtype .fp8.: expected one of: auto, float32, bfloat16, int8"):
        load_model(dtype="fp8")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (pickled / "tokenizer.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="pickled weights are never loaded"):
        load_model(str(pickled))
    (pickled / "config.json").write_text("{")
    with pytest.raises(ModelError, match="config.json: not valid JSON"):
        load_model(str(pickled))


def test_cli_list_info_convert(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--format", "json"])
    assert listed.exit_code == 0
    assert [e["name"] for e in json.loads(listed.stdout)] == ["all-minilm-l6-v2"]
    info = runner.invoke(app, ["models", "info", "all-minilm-l6-v2", "--format", "json"])
    data = json.loads(info.stdout)
    assert data["sha256"] == load_model(threads=1).sha256
    assert data["window"] == 256 and data["storage_dtype"] == "float16" and data["license"] == "apache-2.0"
    heads = sorted(p.name for p in (DEFAULT / "heads").iterdir()) if (DEFAULT / "heads").is_dir() else []
    assert data["config"]["layers"] == 6 and data["heads"] == heads
    table = runner.invoke(app, ["models", "info", str(DEFAULT)])
    assert "apache-2.0" in table.stdout and data["sha256"][:16] in table.stdout.replace("\n", "")
    _tiny_hf_checkpoint(tmp_path / "hf")
    converted = runner.invoke(app, ["models", "convert", str(tmp_path / "hf"), str(tmp_path / "out"), "--dtype", "fp32"])
    assert converted.exit_code == 0, converted.output
    assert (tmp_path / "out" / "model.safetensors").exists()
