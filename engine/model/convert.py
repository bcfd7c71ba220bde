"""Hugging Face BERT-family checkpoint -> brandscan model directory.

Name mapping (Hugging Face -> brandscan), after dropping a leading `bert.`, `roberta.` or
`longformer.` prefix; `gamma`/`beta` (old checkpoints) read as `weight`/`bias`:

    embeddings.word_embeddings               -> embeddings.word
    embeddings.position_embeddings           -> embeddings.position  (RoBERTa/Longformer: rows 2.. only)
    embeddings.token_type_embeddings         -> embeddings.token_type
    embeddings.LayerNorm                     -> embeddings.norm
    encoder.layer.{i}.attention.self.query   -> layers.{i}.attention.query   (also key, value)
    encoder.layer.{i}.attention.output.dense -> layers.{i}.attention.out
    encoder.layer.{i}.attention.output.LayerNorm -> layers.{i}.attn_norm
    encoder.layer.{i}.intermediate.dense     -> layers.{i}.ffn.up
    encoder.layer.{i}.output.dense           -> layers.{i}.ffn.down
    encoder.layer.{i}.output.LayerNorm       -> layers.{i}.ffn_norm

Ignored: pooler, prediction heads, position_ids buffers, and Longformer's separate *_global
projections (brandscan's global tokens use the layer's ordinary projections).
Weights are read from safetensors only: a model file is never unpickled.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from brandscan.engine.errors import ModelError
from brandscan.engine.model.encoder import EncoderConfig

MODEL_FORMAT = "brandscan.model/1"
SUPPORTED_TYPES = ("bert", "roberta", "xlm-roberta", "longformer")
STORAGE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}
LICENSE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE")
_PREFIXES = ("bert.", "roberta.", "longformer.")
_LAYER_MAP = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn.up",
    "output.dense": "ffn.down",
    "output.LayerNorm": "ffn_norm",
}
_EMBED_MAP = {
    "word_embeddings": "word",
    "position_embeddings": "position",
    "token_type_embeddings": "token_type",
    "LayerNorm": "norm",
}
_LAYER_RE = re.compile(r"^encoder\.layer\.(\d+)\.(.+)\.(weight|bias|gamma|beta)$")
_EMBED_RE = re.compile(r"^embeddings\.(\w+)\.(weight|bias|gamma|beta)$")
_PARAM = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def map_hf_name(name: str) -> str | None:
    """brandscan parameter name for a Hugging Face one, or None for tensors brandscan does not use."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if m := _LAYER_RE.match(name):
        target = _LAYER_MAP.get(m.group(2))
        return f"layers.{m.group(1)}.{target}.{_PARAM[m.group(3)]}" if target else None
    if m := _EMBED_RE.match(name):
        target = _EMBED_MAP.get(m.group(1))
        return f"embeddings.{target}.{_PARAM[m.group(2)]}" if target else None
    return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None


def hf_encoder_config(hf: dict, path: Path) -> tuple[EncoderConfig, int]:
    """EncoderConfig and position offset (rows of position embeddings to skip) from an HF config.json."""
    model_type = hf.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise ModelError(f"{path}: model_type {model_type!r} is not supported; expected one of: {', '.join(SUPPORTED_TYPES)}")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ModelError(f"{path}: hidden_act {hf.get('hidden_act')!r} is not supported; expected: gelu")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"{path}: position_embedding_type must be absolute")
    # RoBERTa-family positions start after the padding index
    offset = int(hf.get("pad_token_id", 1)) + 1 if model_type != "bert" else 0
    window = hf.get("attention_window", EncoderConfig.window)
    window = int(window[0] if isinstance(window, list) else window)
    cfg = EncoderConfig(
        hidden=int(hf["hidden_size"]),
        layers=int(hf["num_hidden_layers"]),
        heads=int(hf["num_attention_heads"]),
        intermediate=int(hf["intermediate_size"]),
        vocab=int(hf["vocab_size"]),
        max_positions=int(hf["max_position_embeddings"]) - offset,
        type_vocab=int(hf.get("type_vocab_size", 2)),
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        pad_token_id=int(hf.get("pad_token_id", 0)),
    )
    if model_type == "longformer":
        cfg = replace(cfg, window=window)
    return cfg, offset


def hf_state_dict(weights: bytes, offset: int, path: Path) -> dict[str, Tensor]:
    """brandscan-named tensors from the bytes of a Hugging Face model.safetensors."""
    try:
        source = load_safetensors(weights)
    except SafetensorError as error:
        raise ModelError(f"{path}: not a readable safetensors file ({error})") from None
    state = {}
    for name, tensor in source.items():
        target = map_hf_name(name)
        if target is None:
            continue
        if target == "embeddings.position.weight" and offset:
            tensor = tensor[offset:]
        state[target] = tensor
    return state


def load_hf_checkpoint(hf_dir: Path) -> tuple[EncoderConfig, dict[str, Tensor], bytes, bytes]:
    """(config, brandscan-named state, raw config bytes, raw weight bytes) of an HF checkpoint dir."""
    config_path, weights_path = hf_dir / "config.json", hf_dir / "model.safetensors"
    if not weights_path.exists():
        found = [p.name for p in hf_dir.glob("*.bin")]
        hint = f" (found {', '.join(found)}: pickled weights are never loaded; convert them to safetensors)" if found else ""
        raise ModelError(f"{weights_path}: missing{hint}")
    config_bytes = config_path.read_bytes() if config_path.exists() else b""
    cfg, offset = hf_encoder_config(_read_json(config_path), config_path)
    weights = weights_path.read_bytes()
    return cfg, hf_state_dict(weights, offset, weights_path), config_bytes, weights


def _model_card(name: str, source_name: str, hf: dict, cfg: EncoderConfig, dtype: str, old_card: str | None) -> str:
    lines = [
        f"# {name}",
        "",
        (
            f"brandscan encoder weights converted from `{source_name}` ({hf.get('model_type')}, "
            f"{cfg.layers} layers, hidden {cfg.hidden}, {cfg.heads} heads, feed-forward {cfg.intermediate}, "
            f"vocabulary {cfg.vocab})."
        ),
        "",
        "## Conversion",
        f"- `brandscan models convert` mapped the tensor names (engine/model/convert.py) and stored them as {dtype} safetensors.",
        "- The pooler and any prediction heads were dropped; the encoder's last hidden states are its output.",
        f"- Learned positions: {cfg.max_positions}. brandscan restarts positions at each passage, so documents of any length reuse them.",
        f"- Attention: sliding window w = {cfg.window} plus global tokens (budget {cfg.global_budget}); with a window",
        "  covering the input and no global tokens the encoder computes exactly the original dense BERT.",
        "- Weights are loaded from safetensors only; nothing is unpickled.",
        "",
        "## Files and hash",
        "- `model.safetensors`, `config.json`, `tokenizer.json`: the model. Its sha256 (`brandscan models info`) is",
        "  SHA-256 over the bytes of config.json, model.safetensors and tokenizer.json, concatenated in that order.",
        "- `heads/`: small task heads and adapters trained by brandscan; not covered by the model sha256.",
        "- `LICENSE`, `NOTICE`: the source model's licence and the attribution notice.",
        "",
    ]
    card = "\n".join(lines)
    # keep the measured figures of an earlier conversion (they are written by hand from bench runs)
    if old_card and "\n## Measurements" in old_card:
        card += old_card[old_card.index("\n## Measurements") + 1 :]
    return card


def _source_name(hf_dir: Path, hf: dict) -> str:
    """The model's own title (first heading of its README), else its config's _name_or_path, else the dir name."""
    readme = hf_dir / "README.md"
    if readme.is_file():
        m = re.search(r"^# (.+?)\s*$", readme.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
        if m:
            return m.group(1)
    return str(hf.get("_name_or_path") or hf_dir.name)


def _license_id(hf_dir: Path) -> str:
    """The licence named in the source model card's front matter (`license: apache-2.0`), if any."""
    readme = hf_dir / "README.md"
    if readme.is_file():
        m = re.search(r"^license:\s*(\S+)\s*$", readme.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
        if m:
            return m.group(1)
    return "see LICENSE"


def _find_license(hf_dir: Path, license_file: Path | None) -> Path:
    if license_file is not None:
        if not license_file.is_file():
            raise ModelError(f"{license_file}: licence file missing")
        return license_file
    for name in LICENSE_NAMES:
        if (hf_dir / name).is_file():
            return hf_dir / name
    raise ModelError(f"{hf_dir}: no licence file ({', '.join(LICENSE_NAMES)}); pass one with --license FILE")


def convert_checkpoint(
    hf_dir: Path,
    out_dir: Path,
    *,
    dtype: str = "fp16",
    name: str | None = None,
    license_file: Path | None = None,
    notice: str | None = None,
) -> Path:
    """Write a brandscan model directory (weights, config, tokenizer, licence, notice, card)."""
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    if dtype not in STORAGE_DTYPES:
        raise ModelError(f"storage dtype {dtype!r} is not supported; expected one of: {', '.join(STORAGE_DTYPES)}")
    if not (hf_dir / "tokenizer.json").is_file():
        raise ModelError(f"{hf_dir / 'tokenizer.json'}: missing (brandscan needs a fast-tokenizer file)")
    license_path = _find_license(hf_dir, license_file)
    cfg, state, _, raw_weights = load_hf_checkpoint(hf_dir)
    hf = _read_json(hf_dir / "config.json")
    name = name or out_dir.name
    source_name = _source_name(hf_dir, hf)

    out_dir.mkdir(parents=True, exist_ok=True)
    stored = {k: v.to(STORAGE_DTYPES[dtype]).contiguous() for k, v in sorted(state.items())}
    (out_dir / "model.safetensors").write_bytes(save_safetensors(stored, metadata={"format": "pt"}))
    config = {
        "format": MODEL_FORMAT,
        "name": name,
        "architecture": hf.get("model_type"),
        "storage_dtype": {"fp16": "float16", "fp32": "float32", "bf16": "bfloat16"}[dtype],
        "encoder": cfg.to_dict(),
        "source": {"model": source_name, "license": _license_id(hf_dir), "weights_sha256": hashlib.sha256(raw_weights).hexdigest()},
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tokenizer = (hf_dir / "tokenizer.json").read_bytes()
    if not (out_dir / "tokenizer.json").is_file() or (out_dir / "tokenizer.json").read_bytes() != tokenizer:
        (out_dir / "tokenizer.json").write_bytes(tokenizer)
    if license_path.resolve() != (out_dir / "LICENSE").resolve():
        shutil.copyfile(license_path, out_dir / "LICENSE")
    (out_dir / "NOTICE").write_text(
        f"This directory contains model weights derived from {source_name},\n"
        f"distributed under the licence in LICENSE ({_license_id(hf_dir)}).\n"
        "Changes: tensor names mapped to brandscan's encoder, pooler dropped, weights stored as "
        f"{config['storage_dtype']} safetensors by `brandscan models convert`.\n"
        + (f"{notice.strip()}\n" if notice else ""),
        encoding="utf-8",
    )
    old_card = (out_dir / "MODEL_CARD.md").read_text(encoding="utf-8") if (out_dir / "MODEL_CARD.md").exists() else None
    (out_dir / "MODEL_CARD.md").write_text(_model_card(name, source_name, hf, cfg, config["storage_dtype"], old_card), encoding="utf-8")
    return out_dir
