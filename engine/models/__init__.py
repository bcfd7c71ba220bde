"""Model registry and loader: `load_model()` gives the embedded default encoder, ready for inference.

    from brandscan.engine.models import load_model
    model = load_model()                 # all-minilm-l6-v2, dtype chosen by measurement ("auto")
    model = load_model("path/to/dir")    # a converted brandscan model or a Hugging Face checkpoint
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from .registry import ModelEntry, default_model_dir, list_models

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..encoder import Encoder, EncoderConfig

__all__ = ["LoadedModel", "ModelEntry", "ModelError", "default_model_dir", "list_models", "load_model", "resolve_dtype"]

DTYPE_CHOICES = ("auto", "fp32", "bf16")
# CPU flags of native bf16 matrix units; without them bf16 products are emulated and far slower
# than float32 (measured on an AVX2-only EPYC: 1.2 GFLOP/s bf16 against 87 float32).
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class LoadedModel:
    name: str
    directory: Path
    sha256: str  # see registry.sha256_of for what it covers
    config: EncoderConfig
    encoder: Encoder  # eval mode, parameters frozen (adapters add their own trainable ones)
    tokenizer_file: Path
    heads_dir: Path  # may not exist yet
    dtype: torch.dtype


def _cpu_has_bf16_units() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in _BF16_CPU_FLAGS)


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """auto: bf16 where it is fast (CUDA, CPUs with AMX/AVX512-BF16), else float32.

    bf16 drift was measured on real text (MODEL_CARD.md): cosine similarity of final hidden states
    to float32 stays above 0.99, the bar for making it the default where it is faster.
    """
    import torch

    if dtype not in DTYPE_CHOICES:
        raise ModelError(f"dtype {dtype!r} is not supported; expected one of: {', '.join(DTYPE_CHOICES)}")
    if dtype == "fp32":
        return torch.float32
    if dtype == "bf16":
        return torch.bfloat16
    fast_bf16 = device.startswith("cuda") or (device == "cpu" and _cpu_has_bf16_units())
    return torch.bfloat16 if fast_bf16 else torch.float32


def load_model(
    name_or_dir: str | None = None,
    *,
    dtype: str = "auto",
    threads: int | None = None,
    device: str = "cpu",
    window: int | None = None,
    global_budget: int | None = None,
) -> LoadedModel:
    """Load a model by name or directory (None: the embedded default). Raises ModelError."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    from ..encoder import Encoder, EncoderConfig
    from . import registry
    from .convert import load_hf_checkpoint

    if threads is not None and threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads or os.cpu_count() or 1)
    directory = registry.resolve(name_or_dir)
    config = registry.read_config(directory)
    tokenizer_file = directory / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelError(f"{tokenizer_file}: missing")
    if registry.model_kind(config) == "brandscan":
        weights_path = directory / "model.safetensors"
        if not weights_path.is_file():
            raise ModelError(f"{weights_path}: missing")
        raw = {"config.json": (directory / "config.json").read_bytes(), "model.safetensors": weights_path.read_bytes()}
        try:
            cfg = EncoderConfig.from_dict(config.get("encoder", {}))
            state = load_safetensors(raw["model.safetensors"])
        except ValueError as error:
            raise ModelError(f"{directory}: {error}") from None
        except SafetensorError as error:
            raise ModelError(f"{weights_path}: not a readable safetensors file ({error})") from None
        name = str(config.get("name", directory.name))
    else:
        cfg, state, config_bytes, weights = load_hf_checkpoint(directory)
        raw = {"config.json": config_bytes, "model.safetensors": weights}
        name = directory.name
    cfg = replace(cfg, **{k: v for k, v in (("window", window), ("global_budget", global_budget)) if v is not None})
    try:
        encoder = Encoder(cfg)
    except ValueError as error:
        raise ModelError(f"{directory}: {error}") from None
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(f"{directory}: weights do not match the encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
    torch_dtype = resolve_dtype(dtype, device)
    encoder = encoder.to(device=device, dtype=torch_dtype).eval().requires_grad_(False)
    return LoadedModel(
        name=name,
        directory=directory,
        sha256=registry.sha256_of(directory, raw),
        config=cfg,
        encoder=encoder,
        tokenizer_file=tokenizer_file,
        heads_dir=directory / "heads",
        dtype=torch_dtype,
    )
