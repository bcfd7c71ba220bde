"""Model registry and loader: `load_model()` gives the embedded default encoder, ready for inference.

    from brandscan.engine.model.loader import load_model
    model = load_model()                 # all-minilm-l6-v2, dtype chosen by measurement ("auto")
    model = load_model("path/to/dir")    # a converted brandscan model or a Hugging Face checkpoint
"""
from __future__ import annotations

import json
import math
import mmap
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from brandscan.engine.config import DTYPES, Dtype, check_dtype
from brandscan.engine.errors import ConfigError, ModelError
from brandscan.engine.model.registry import ModelEntry, default_model_dir, list_models

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from brandscan.engine.model.encoder import Encoder, EncoderConfig

__all__ = [
    "DTYPES", "LoadedModel", "ModelEntry", "ModelError", "default_model_dir", "list_models", "load_model",
    "read_safetensors", "resolve_dtype",
]

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
    dtype: torch.dtype  # of the encoder's float tensors
    int8: bool = False  # the layers' linears run in int8 (model/int8.py): quantize each encoder a run uses

    @property
    def dtype_name(self) -> str:
        """What reports call this model's dtype: int8, float32 or bfloat16."""
        return "int8" if self.int8 else str(self.dtype).removeprefix("torch.")

    def for_inference(self, encoder: Encoder, head_dir: Path | None = None) -> Encoder:
        """`encoder` (this model's, or the one with HEAD_DIR's adapter merged) as a run computes with
        it: with int8, its layer linears quantized, smoothed by HEAD_DIR's calibration where it has one."""
        if not self.int8:
            return encoder
        from brandscan.engine.model.int8 import quantize_encoder, read_calibration
        from brandscan.engine.model.merged import merged_sha256

        maxima = read_calibration(head_dir, merged_sha256(head_dir)) if head_dir is not None else None
        return quantize_encoder(encoder, maxima)  # type: ignore[return-value]  # an Encoder with Int8Linear layers


def _cpu_has_bf16_units() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in _BF16_CPU_FLAGS)


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; anything unreadable is a ModelError naming `path`."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{path}: not a readable safetensors file ({reason})") from None


# safetensors dtype names -> torch dtype names (what brandscan writes: F16, BF16, F32)
_SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}


def map_file(path: Path) -> mmap.mmap:
    """`path` mapped copy-on-write: hashed and viewed in place, where reading it would copy it once
    and safetensors' loader once more (0.09 s of the default model's 0.25 s load)."""
    try:
        with open(path, "rb") as handle:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (OSError, ValueError) as error:  # an empty file cannot be mapped
        raise ModelError(f"{path}: not a readable safetensors file ({error})") from None


def tensors_of(data: mmap.mmap, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a mapped safetensors file, as views of `data` (no copy); an unreadable file or
    a dtype other than F16, BF16 or F32 is a ModelError naming `path`."""
    import torch

    try:
        size = int.from_bytes(data[:8], "little")
        if not 2 <= size <= len(data) - 8:
            raise ValueError(f"header size {size} does not fit the file ({len(data)} bytes)")
        header = json.loads(bytes(data[8 : 8 + size]))
        header.pop("__metadata__", None)
        tensors = {}
        for name, entry in header.items():
            kind = _SAFETENSORS_DTYPES.get(entry["dtype"])
            if kind is None:
                raise ValueError(f"{name} is {entry['dtype']}; expected one of: {', '.join(_SAFETENSORS_DTYPES)}")
            dtype = getattr(torch, kind)
            begin, end = entry["data_offsets"]
            count = (end - begin) // dtype.itemsize
            if count != math.prod(entry["shape"]) or 8 + size + end > len(data):
                raise ValueError(f"{name}: offsets {begin}-{end} do not fit shape {entry['shape']} in the file")
            flat = torch.frombuffer(data, dtype=dtype, count=count, offset=8 + size + begin) if count else torch.empty(0, dtype=dtype)
            tensors[name] = flat.view(entry["shape"])
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not a readable safetensors file ({error})") from None
    return tensors


_INIT_FUNCTIONS = ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_")


def build_encoder(config: EncoderConfig, state: dict[str, torch.Tensor], directory: Path) -> Encoder:
    """An Encoder with exactly `state`'s weights, skipping the random initialisation they replace
    (0.16-0.19 s of a 0.3 s load). A missing, unexpected or misshapen weight is a ModelError naming
    `directory`."""
    from torch.nn import init

    from brandscan.engine.model.encoder import Encoder

    # torch's own way to skip it (the meta device) first imports torch._refs and torch._dynamo:
    # 1.6 s. nn.Linear, nn.Embedding and nn.LayerNorm look these functions up on torch.nn.init at
    # call time, so they are no-ops while the (uninitialised, then fully loaded) encoder is built.
    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(init, name, _leave)
        encoder = Encoder(config)
    except ValueError as error:
        raise ModelError(f"{directory}: {error}") from None
    finally:
        for name, function in saved.items():
            setattr(init, name, function)
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as error:  # wrong shapes
        raise ModelError(f"{directory}: weights do not fit the encoder ({str(error).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise ModelError(f"{directory}: weights do not match the encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return encoder


def _leave(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
    return tensor


def load_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Load a small head's float16-on-disk tensors (widened to float32); a mismatch names `path`."""
    try:
        module.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError as error:  # missing or unexpected keys, wrong shapes
        raise ModelError(f"{path}: weights do not fit this head ({str(error).splitlines()[0]})") from None


def resolve_dtype(dtype: Dtype | str, device: str) -> torch.dtype:
    """The float dtype of the encoder's tensors. auto: bf16 where it is fast (CUDA, CPUs with
    AMX/AVX512-BF16), else float32; int8 keeps float32 tensors around its int8 linears, on CPU only.

    bf16 drift was measured on real text (MODEL_CARD.md): cosine similarity of final hidden states
    to float32 stays above 0.99, the bar for making it the default where it is faster.
    """
    import torch

    try:
        dtype = check_dtype(dtype)
    except ConfigError as error:
        raise ModelError(str(error)) from None
    if dtype == "int8" and device != "cpu":
        raise ModelError(f"dtype int8 runs on the CPU only (device {device}); on a GPU use bfloat16 or auto")
    if dtype in ("float32", "int8"):
        return torch.float32
    if dtype == "bfloat16":
        return torch.bfloat16
    fast_bf16 = device.startswith("cuda") or (device == "cpu" and _cpu_has_bf16_units())
    return torch.bfloat16 if fast_bf16 else torch.float32


def load_model(
    name_or_dir: str | None = None,
    *,
    dtype: Dtype = "auto",
    threads: int | None = None,
    device: str = "cpu",
    window: int | None = None,
    global_budget: int | None = None,
) -> LoadedModel:
    """Load a model by name or directory (None: the embedded default). Raises ModelError."""
    import torch

    from brandscan.engine.model import registry
    from brandscan.engine.model.encoder import EncoderConfig
    from brandscan.engine.stable import warm_vector_math

    if threads is not None and threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    torch_dtype = resolve_dtype(dtype, device)  # a bad dtype fails before any file is read
    torch.set_num_threads(threads or os.cpu_count() or 1)
    warm_vector_math()
    directory = registry.resolve(name_or_dir)
    config = registry.read_config(directory)
    tokenizer_file = directory / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelError(f"{tokenizer_file}: missing")
    if registry.model_kind(config) == "brandscan":
        weights_path = directory / "model.safetensors"
        if not weights_path.is_file():
            raise ModelError(f"{weights_path}: missing")
        raw = {"config.json": (directory / "config.json").read_bytes(), "model.safetensors": map_file(weights_path)}
        try:
            cfg = EncoderConfig.from_dict(config.get("encoder", {}))
        except ValueError as error:
            raise ModelError(f"{directory}: {error}") from None
        state = tensors_of(raw["model.safetensors"], weights_path)  # views: copied into the encoder below
        name = str(config.get("name", directory.name))
    else:
        from brandscan.engine.model.convert import load_hf_checkpoint  # not on the default model's path

        cfg, state, config_bytes, weights = load_hf_checkpoint(directory)
        raw = {"config.json": config_bytes, "model.safetensors": weights}
        name = directory.name
    cfg = replace(cfg, **{k: v for k, v in (("window", window), ("global_budget", global_budget)) if v is not None})
    encoder = build_encoder(cfg, state, directory)  # skips the random initialisation `state` replaces
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
        int8=dtype == "int8",
    )
