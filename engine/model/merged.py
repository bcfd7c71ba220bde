"""Merged encoders, shipped: a head's LoRA adapter merged into the base once, at train or merge time.

`write_merged(MODEL_DIR, HEAD_DIR)` merges HEAD_DIR/adapter.safetensors into the base model's
float32 weights exactly as `adapters.load_adapter` does at load, and writes the adapted linears only
(the rest of the encoder is the base's) to HEAD_DIR/merged.safetensors, with HEAD_DIR/merged.json
recording its sha256 and the sha256 of the base model and the adapter it was merged from.
`load_merged(loaded, HEAD_DIR)` verifies all three and builds the adapted encoder from the base's
tensors (shared, not copied) and the merged linears: a run merges and copies nothing. The adapter
stays beside it for training; `save_adapter` removes the merged files a new adapter makes stale.

Stored in float32: the merged weight is float16(base) + (alpha / r) B A in float32, which float16
storage would round (the examples' 4th-decimal figures must stay identical).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from brandscan.engine.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from mmap import mmap

    import torch
    from torch import nn

    from brandscan.engine.model.encoder import Encoder
    from brandscan.engine.model.loader import LoadedModel

MERGED_WEIGHTS = "merged.safetensors"
MERGED_CONFIG = "merged.json"
MERGED_FORMAT = "brandscan.merged/1"


def _sha256(data: bytes | mmap) -> str:
    return hashlib.sha256(data).hexdigest()


def _adapter_sha256(head_dir: Path) -> str:
    from brandscan.engine.model.adapters import ADAPTER_WEIGHTS

    try:
        return _sha256((head_dir / ADAPTER_WEIGHTS).read_bytes())
    except FileNotFoundError:
        raise ModelError(f"{head_dir / ADAPTER_WEIGHTS}: missing (the adapter the merged weights came from)") from None


def remove_merged(head_dir: Path) -> None:
    """Delete HEAD_DIR's merged files and the int8 calibration measured on them (a new adapter makes
    them stale)."""
    from brandscan.engine.model.int8 import CALIBRATION_FILE

    for name in (MERGED_CONFIG, MERGED_WEIGHTS, CALIBRATION_FILE):
        (Path(head_dir) / name).unlink(missing_ok=True)


def merged_sha256(head_dir: Path) -> str | None:
    """The sha256 HEAD_DIR/merged.json records for its merged weights; None where there is none."""
    try:
        body = json.loads((Path(head_dir) / MERGED_CONFIG).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # load_merged names what is wrong with a file that exists
    return body.get("sha256") if isinstance(body, dict) else None


def write_merged(model: str | Path | None, head_dir: str | Path) -> Path:
    """Merge HEAD_DIR's adapter into `model`'s base (float32, CPU) and write merged.safetensors and
    merged.json there, and the int8 calibration of the merged encoder (model/int8.py) where the model
    has calibration text. Returns the weights' path."""
    from safetensors.torch import save

    from brandscan.engine.model.adapters import ADAPTER_WEIGHTS, load_adapter
    from brandscan.engine.model.int8 import CALIBRATION_FILE, write_calibration
    from brandscan.engine.model.loader import load_model, read_safetensors

    head_dir = Path(head_dir)
    loaded = load_model(None if model is None else str(model), dtype="float32", device="cpu")
    merged = load_adapter(loaded.encoder, head_dir)  # the very computation a run used to do at load
    adapter, _ = read_safetensors(head_dir / ADAPTER_WEIGHTS)
    prefixes = sorted(name[: -len(".lora_A")] for name in adapter if name.endswith(".lora_A"))
    state = merged.state_dict()
    tensors = {f"{p}.weight": state[f"{p}.weight"].contiguous() for p in prefixes}
    data = save(tensors, metadata={"format": "pt"})
    partial = head_dir / f".{MERGED_WEIGHTS}.partial"
    partial.write_bytes(data)
    os.replace(partial, head_dir / MERGED_WEIGHTS)  # a new file: a run that has the old one mapped keeps it
    body = {
        "format": MERGED_FORMAT,
        "sha256": _sha256(data),
        "base_model": loaded.name,
        "base_sha256": loaded.sha256,
        "adapter_sha256": _adapter_sha256(head_dir),
        "dtype": "float32",
        "tensors": len(tensors),
    }
    (head_dir / MERGED_CONFIG).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if write_calibration(merged, loaded.directory, loaded.tokenizer_file, head_dir, body["sha256"]) is None:
        (head_dir / CALIBRATION_FILE).unlink(missing_ok=True)
    return head_dir / MERGED_WEIGHTS


def copy_modules(module: nn.Module) -> nn.Module:
    """A copy of the module tree whose parameters and buffers are the same tensors (none copied)."""
    import copy

    twin = copy.copy(module)  # a new object over the same attribute values
    twin._modules = {name: copy_modules(child) for name, child in module._modules.items()}
    twin._parameters = dict(module._parameters)
    twin._buffers = dict(module._buffers)
    return twin


def _with_weights(base: Encoder, weights: dict[str, torch.Tensor], path: Path) -> Encoder:
    """A new Encoder module sharing every tensor of `base` except `weights` (name -> tensor), which
    replace the base's."""
    from torch import nn

    encoder = copy_modules(base)
    modules = dict(encoder.named_modules())
    for name, tensor in weights.items():
        owner, _, attr = name.rpartition(".")
        old = modules[owner]._parameters.get(attr) if owner in modules else None
        if old is None:
            raise ModelError(f"{path}: {name} is not a weight of this encoder")
        if old.shape != tensor.shape:
            raise ModelError(f"{path}: {name} has shape {tuple(tensor.shape)}, the encoder {tuple(old.shape)}")
        modules[owner]._parameters[attr] = nn.Parameter(tensor.to(device=old.device, dtype=old.dtype), requires_grad=False)
    return encoder  # type: ignore[return-value]  # in eval mode, as the base is


def load_merged(loaded: LoadedModel, head_dir: str | Path) -> Encoder | None:
    """The encoder with HEAD_DIR's adapter merged, from the shipped merged weights; None where the
    head has none (then the caller merges the adapter at load). A file that does not match the
    sha256 recorded for it, or merged weights older than the base or the adapter, is a ModelError."""
    from brandscan.engine.model.adapters import ADAPTER_WEIGHTS
    from brandscan.engine.model.loader import map_file, read_safetensors, tensors_of

    head_dir = Path(head_dir)
    config_path, weights_path = head_dir / MERGED_CONFIG, head_dir / MERGED_WEIGHTS
    if not config_path.is_file():
        return None
    try:
        body = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{config_path}: not valid JSON ({error})") from None
    if not isinstance(body, dict) or body.get("format") != MERGED_FORMAT:
        raise ModelError(f"{config_path}: format must be {MERGED_FORMAT}")
    fix = f"run `brandscan models merge {loaded.directory}`"
    if body.get("base_sha256") != loaded.sha256:
        raise ModelError(f"{config_path}: merged into base {body.get('base_sha256')}, but the model is {loaded.sha256}; {fix}")
    if body.get("adapter_sha256") != _adapter_sha256(head_dir):
        read_safetensors(head_dir / ADAPTER_WEIGHTS)  # an unreadable adapter says so first
        raise ModelError(f"{config_path}: merged from another adapter than {head_dir / 'adapter.safetensors'}; {fix}")
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: missing; {fix}")
    data = map_file(weights_path)  # hashed and viewed in place; write_merged replaces, never rewrites
    digest = _sha256(data)
    if digest != body.get("sha256"):
        raise ModelError(f"{weights_path}: sha256 {digest} does not match {body.get('sha256')} in {config_path}; {fix}")
    return _with_weights(loaded.encoder, tensors_of(data, weights_path), weights_path)
