"""LoRA adapters on the encoder's linear layers: train small, ship small, run at no extra cost.

Training: `add_lora` wraps the targeted nn.Linear modules so that y = W x + b + (alpha / r) B A x,
with A (r, in) and B (out, r) the only trainable tensors (B starts at zero, so the adapted encoder
starts equal to the base). Shipping: `save_adapter(encoder, DIR, meta)` writes DIR/adapter.safetensors
(only the A and B tensors) and DIR/adapter.json (rank, alpha, targets, meta). Inference:
`load_adapter(base, DIR)` returns a deep copy of the base whose weights have W + (alpha / r) B A
merged in, so the adapted encoder is a plain encoder again; the base is left untouched. Runs load
that merge precomputed (model/merged.py: `brandscan models merge`) and only fall back to this.

Target names match the last part of a module's path: "query", "key", "value", "out" (attention
output), "up", "down" (feed-forward); e.g. targets=("query", "value").
"""
from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from brandscan.engine.errors import ModelError
from brandscan.engine.model.encoder import Encoder

TARGETS = ("query", "key", "value", "out", "up", "down")
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_CONFIG = "adapter.json"
ADAPTER_FORMAT = "brandscan.adapter/1"


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(base.weight.new_empty(rank, base.in_features))  # (r, in)
        self.lora_B = nn.Parameter(base.weight.new_zeros(base.out_features, rank))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        # (..., in) -> (..., out); the low-rank path costs O(r * (in + out)) per token
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling

    def delta(self) -> Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling  # (out, in)


def _targets(targets: Sequence[str]) -> tuple[str, ...]:
    bad = sorted(set(targets) - set(TARGETS))
    if bad or not targets:
        raise ValueError(f"LoRA targets {bad or list(targets)} are not valid; expected some of: {', '.join(TARGETS)}")
    return tuple(targets)


def add_lora(encoder: Encoder, rank: int, alpha: float, targets: Sequence[str]) -> list[nn.Parameter]:
    """Wrap the targeted linears of `encoder` in place; freezes the rest. Returns the trainable params."""
    wanted = _targets(targets)
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    encoder.requires_grad_(False)
    params: list[nn.Parameter] = []
    for _path, module in list(encoder.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in wanted and isinstance(child, nn.Linear):
                wrapped = LoRALinear(child, rank, alpha)
                setattr(module, child_name, wrapped)
                params += [wrapped.lora_A, wrapped.lora_B]
    encoder.lora_config = {"rank": rank, "alpha": alpha, "targets": list(wanted)}
    return params


def read_adapter(path: Path) -> tuple[dict, dict[str, Tensor]]:
    """DIR/adapter.json and the tensors of DIR/adapter.safetensors; a one-line ModelError when either
    is missing or not an adapter."""
    from brandscan.engine.model.loader import read_safetensors

    try:
        config = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        tensors, _ = read_safetensors(path / ADAPTER_WEIGHTS)
    except FileNotFoundError as error:
        raise ModelError(f"{error.filename}: missing (not an adapter directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path / ADAPTER_CONFIG}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("format") != ADAPTER_FORMAT:
        raise ModelError(f"{path / ADAPTER_CONFIG}: format must be {ADAPTER_FORMAT}")
    return config, tensors


def start_from_adapter(encoder: Encoder, path: Path) -> None:
    """Set the LoRA tensors of an encoder wrapped by add_lora to those of the adapter at `path`, so
    that training goes on from it (fine-tuning a shipped adapter on new data) instead of from zero.
    The adapter must have the wrapped encoder's rank, alpha and targets."""
    path = Path(path)
    wanted = getattr(encoder, "lora_config", None)
    if wanted is None:
        raise ValueError("encoder has no LoRA adapters: call add_lora first")
    config, tensors = read_adapter(path)
    found = {key: config.get(key) for key in ("rank", "alpha", "targets")}
    if found != {key: wanted[key] for key in found}:
        raise ModelError(f"{path / ADAPTER_CONFIG}: rank, alpha and targets {found} differ from this run's {wanted}")
    state = encoder.state_dict()
    if set(tensors) != set(lora_state(encoder)):
        raise ModelError(f"{path / ADAPTER_WEIGHTS}: its tensors are not the LoRA tensors of this encoder")
    with torch.no_grad():
        for name, tensor in tensors.items():
            if tensor.shape != state[name].shape:
                raise ModelError(f"{path / ADAPTER_WEIGHTS}: {name} shape {tuple(tensor.shape)} != {tuple(state[name].shape)}")
            state[name].copy_(tensor.to(state[name].dtype))


def lora_state(encoder: Encoder) -> dict[str, Tensor]:
    """The adapter tensors only, named `<module path>.lora_A` / `.lora_B`."""
    return {
        name: tensor.detach().contiguous()
        for name, tensor in encoder.state_dict().items()
        if name.endswith((".lora_A", ".lora_B"))
    }


def save_adapter(encoder: Encoder, path: Path, meta: dict) -> None:
    """Write DIR/adapter.safetensors and DIR/adapter.json (rank, alpha, targets, meta)."""
    config = getattr(encoder, "lora_config", None)
    if config is None:
        raise ValueError("encoder has no LoRA adapters: call add_lora first")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.float().cpu() for k, v in lora_state(encoder).items()}
    save_file(tensors, str(path / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    from brandscan.engine.model.merged import remove_merged

    remove_merged(path)  # merged weights of an earlier adapter are stale now (model/merged.py)
    body = {"format": ADAPTER_FORMAT, **config, "meta": meta}
    (path / ADAPTER_CONFIG).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_adapter(base: Encoder, path: Path) -> Encoder:
    """A copy of `base` with the adapter at `path` merged into its weights (base untouched)."""
    path = Path(path)
    config, tensors = read_adapter(path)
    try:
        scaling = float(config["alpha"]) / int(config["rank"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise ModelError(f"{path / ADAPTER_CONFIG}: rank and alpha must be numbers ({error!r})") from None
    merged = copy.deepcopy(base)
    modules = dict(merged.named_modules())
    with torch.no_grad():
        for name, lora_a in tensors.items():
            if not name.endswith(".lora_A"):
                continue
            prefix = name[: -len(".lora_A")]
            # saved from a wrapped encoder: "<path>.lora_A" belongs to the linear at <path>
            linear = modules.get(prefix)
            if isinstance(linear, LoRALinear):
                linear = linear.base
            if not isinstance(linear, nn.Linear) or f"{prefix}.lora_B" not in tensors:
                raise ModelError(f"{path / ADAPTER_WEIGHTS}: {prefix} is not a linear layer of this encoder")
            lora_b = tensors[f"{prefix}.lora_B"]
            delta = (lora_b.float() @ lora_a.float()) * scaling  # (out, in)
            if delta.shape != linear.weight.shape:
                raise ModelError(f"{path / ADAPTER_WEIGHTS}: {prefix} shape {tuple(delta.shape)} != {tuple(linear.weight.shape)}")
            linear.weight += delta.to(linear.weight.dtype)
    return merged
