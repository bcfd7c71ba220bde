"""int8 linear layers for CPUs without fast bf16 (`--dtype int8`).

Every linear of the encoder's layers (query, key, value, attention output, feed-forward up and down)
becomes an Int8Linear: weights quantized per output channel, activations per token at run time, the
product taken in int8 with int32 sums (torch._int_mm: oneDNN's u8s8 kernels on AVX2, about 4x the
float32 matrix-product rate here), then scaled back to float32. Embeddings, LayerNorms, softmax and
the attention products stay float32.

Why per token, not per tensor: MiniLM's hidden states have outlier channels (channel 99 of every
LayerNorm output reaches 20-30 where the median channel stays under 2.5, measured on corpus dev).
One scale for a whole chunk lets the largest token of the chunk set every token's resolution; per
token, a row pays only for its own largest value. fbgemm's dynamic Linear (one scale per tensor,
7-bit activations on AVX2) drifts to a mean final-state cosine of 0.962 against float32; per token,
0.9966 (bench/int8.py). A token's projection also depends on that token alone, as in float32, so the
attention rows that attribution recomputes (model/rows.py) equal the encoder's own.

The outlier channels are moved into the weights (SmoothQuant's migration): with the per-channel
maxima of a layer's input measured on calibration text, input channel j is divided by
s_j = max|x_j|^alpha / max|W_j|^(1 - alpha) and weight column j multiplied by it, which leaves the
product unchanged in exact arithmetic and levels the channels before rounding. The maxima are
measured once, when a head's merged weights are written (model/merged.py), over the model's own
calibration text (MODEL_DIR/calibration.txt, passages of the brand corpus's train split), and ship
as HEAD_DIR/int8.safetensors tied to the merged weights' sha256. An encoder without them (a model
with no calibration text, the base encoder of a model without heads) is quantized without smoothing.
On corpus dev, GAP and MAMS the smoothing is what brings int8 within 0.5 points of float32: without
it implicit-mention accuracy fell 1.1 points and GAP 1.0 (bench/README.md).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

from brandscan.engine.errors import ModelError

CALIBRATION_TEXT = "calibration.txt"  # in a model directory: what the input maxima are measured on
CALIBRATION_FILE = "int8.safetensors"  # in a head directory, beside merged.safetensors
CALIBRATION_FORMAT = "brandscan.int8/1"
# SmoothQuant's migration strength (0.5 splits the outlier range evenly between activations and
# weights), chosen on text outside dev: mean final-state cosine of the linking encoder on 400 GAP
# development texts / on corpus train documents outside the calibration text: 0.9934 / 0.9926
# unsmoothed, 0.9946 / 0.9946 at 0.35, 0.9977 / 0.9977 at 0.5, 0.9986 / 0.9987 at 0.65, 0.9978 /
# 0.9978 at 0.8.
SMOOTH_ALPHA = 0.65
# The linears of a Layer, by module path under it; inputs are shared by query, key and value.
LINEARS = ("attention.query", "attention.key", "attention.value", "attention.out", "ffn.up", "ffn.down")
# Rows quantized, multiplied and scaled back at once: 1,024 rows keep a block's int8, int32 and
# float32 copies in cache (the 384 -> 1536 linear of a 4,352-row chunk: 14.1 ms whole, 9.4 ms in
# blocks of 1,088, 26.9 ms in float32; medians of 15).
ROW_BLOCK = 1024
_TINY = 1e-8  # floor of every scale: an all-zero row or channel quantizes to zeros, not NaN


class Int8Linear(nn.Module):
    """y = x W^T + b with W int8 per output channel and x int8 per token: (..., K) -> (..., N)."""

    def __init__(self, linear: nn.Linear, smooth: Tensor | None = None) -> None:
        super().__init__()
        weight = linear.weight.detach().float()  # (N, K)
        if smooth is not None:
            weight = weight * smooth[None, :]  # (N, K): column j carries input channel j's migrated range
        scale = weight.abs().amax(dim=1).clamp_min(_TINY) / 127  # (N,)
        self.register_buffer("weight_q", torch.round(weight / scale[:, None]).to(torch.int8).t().contiguous())  # (K, N)
        self.register_buffer("weight_scale", scale)  # (N,)
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros(weight.shape[0])
        self.register_buffer("bias", bias)  # (N,)
        self.register_buffer("inverse_smooth", None if smooth is None else (1.0 / smooth).float())  # (K,)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1])  # (M, K)
        out = rows.new_empty((rows.shape[0], self.out_features))  # (M, N)
        for r0 in range(0, rows.shape[0], ROW_BLOCK):
            self._rows(rows[r0 : r0 + ROW_BLOCK], out[r0 : r0 + ROW_BLOCK])
        return out.view(*shape[:-1], self.out_features)

    def _rows(self, x: Tensor, out: Tensor) -> None:
        """One block of rows, x (R, K) -> out (R, N), every pass over data that stays in cache."""
        if self.inverse_smooth is not None:
            x = x * self.inverse_smooth  # (R, K): the outlier channels levelled, in a copy of our own
            scale = x.abs().amax(dim=1, keepdim=True).clamp_min_(_TINY).div_(127)  # (R, 1): one scale per token
            q = x.div_(scale).round_().to(torch.int8)  # (R, K)
        else:
            scale = x.abs().amax(dim=1, keepdim=True).clamp_min_(_TINY).div_(127)
            q = torch.div(x, scale).round_().to(torch.int8)
        out.copy_(torch._int_mm(q, self.weight_q))  # (R, N): exact int32 sums, widened
        torch.addcmul(self.bias, out.mul_(self.weight_scale), scale, out=out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, smoothed={self.inverse_smooth is not None}"


def smoothing(input_max: Tensor, weight: Tensor, alpha: float | None = None) -> Tensor:
    """Per-input-channel divisors (K,) from the channel maxima of the input (K,) and a weight (N, K)."""
    alpha = SMOOTH_ALPHA if alpha is None else alpha
    weight_max = weight.detach().float().abs().amax(dim=0).clamp_min(1e-5)  # (K,)
    return (input_max.float().clamp_min(1e-5) ** alpha / weight_max ** (1 - alpha)).clamp_min(1e-5)


def _linears(encoder: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Module]]:
    """(name, owner module, attribute, linear) for each quantized linear, e.g. 'layers.0.ffn.up'."""
    for index, layer in enumerate(encoder.layers):  # type: ignore[union-attr]
        for path in LINEARS:
            owner_path, _, attr = path.rpartition(".")
            owner = layer.get_submodule(owner_path)
            yield f"layers.{index}.{path}", owner, attr, getattr(owner, attr)


def quantize_encoder(encoder: nn.Module, input_max: dict[str, Tensor] | None = None) -> nn.Module:
    """A twin of `encoder` (embeddings and LayerNorms shared, not copied) whose layer linears are
    Int8Linear, smoothed by `input_max` (linear name -> per-channel max |input|) where given."""
    from brandscan.engine.model.merged import copy_modules

    twin = copy_modules(encoder)
    for name, owner, attr, linear in _linears(twin):
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"{name} is {type(linear).__name__}, not a float Linear: quantize the float encoder")
        smooth = smoothing(input_max[name], linear.weight) if input_max and name in input_max else None
        owner._modules[attr] = Int8Linear(linear, smooth)
    return twin.eval()


@contextmanager
def _recording(encoder: nn.Module, maxima: dict[str, Tensor]) -> Iterator[None]:
    hooks = []
    for name, _, _, linear in _linears(encoder):
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor, key: str = name) -> None:
            seen = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(dim=0).float()  # (K,)
            maxima[key] = torch.maximum(maxima[key], seen) if key in maxima else seen
        hooks.append(linear.register_forward_hook(record))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def input_maxima(encoder: nn.Module, batches: Iterable[tuple[Tensor, Tensor, Tensor]]) -> dict[str, Tensor]:
    """Per-channel max |input| of every layer linear of the float `encoder` over `batches` of
    (input_ids, position_ids, global_mask), each (1, n): the calibration SmoothQuant migrates."""
    maxima: dict[str, Tensor] = {}
    with _recording(encoder, maxima), torch.inference_mode():
        for input_ids, position_ids, global_mask in batches:
            encoder(input_ids, position_ids, global_mask)
    return maxima


def calibration_batches(text: str, tokenizer_file: Path) -> list[tuple[Tensor, Tensor, Tensor]]:
    """`text` laid out as analyze lays out a document (passages, positions restarting, markers
    global), in one batch of (input_ids, position_ids, global_mask), each (1, n)."""
    from brandscan.engine.text.passages import load_tokenizer, tokenize_document

    tokens = tokenize_document(text, load_tokenizer(tokenizer_file))
    ids = torch.from_numpy(tokens.input_ids.copy())[None]  # (1, n)
    return [(ids, torch.from_numpy(tokens.position_ids.copy())[None], torch.from_numpy(tokens.is_marker.copy())[None])]


def write_calibration(encoder: nn.Module, model_dir: Path, tokenizer_file: Path, head_dir: Path,
                      merged_sha256: str) -> Path | None:
    """HEAD_DIR/int8.safetensors: the input maxima of the float `encoder` (the head's merged one) over
    MODEL_DIR/calibration.txt, tied to the merged weights' sha256; None where the model has no
    calibration text."""
    from safetensors.torch import save_file

    text_path = model_dir / CALIBRATION_TEXT
    if not text_path.is_file():
        return None
    text = text_path.read_text(encoding="utf-8")
    maxima = input_maxima(encoder, calibration_batches(text, tokenizer_file))
    out = head_dir / CALIBRATION_FILE
    save_file({k: v.contiguous() for k, v in maxima.items()}, str(out), metadata={
        "format": CALIBRATION_FORMAT, "merged_sha256": merged_sha256,
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})
    return out


def read_calibration(head_dir: Path, merged_sha256: str | None) -> dict[str, Tensor] | None:
    """HEAD_DIR's input maxima, or None where it has none; maxima measured on other merged weights
    than `merged_sha256` are a ModelError that names the fix."""
    from brandscan.engine.model.loader import read_safetensors

    path = head_dir / CALIBRATION_FILE
    if not path.is_file() or merged_sha256 is None:
        return None  # no merged weights: the adapter is merged at load, and nothing was measured on it
    maxima, metadata = read_safetensors(path)
    if metadata.get("format") != CALIBRATION_FORMAT:
        raise ModelError(f"{path}: format must be {CALIBRATION_FORMAT}")
    if metadata.get("merged_sha256") != merged_sha256:
        raise ModelError(f"{path}: measured on merged weights {metadata.get('merged_sha256')}, not {merged_sha256}; "
                         "run `brandscan models merge`")
    return maxima
