"""The words around an ambiguous name, as a learned prior on its sense beside the encoder's view.

Why: the sense module reads the frozen states of an encoder trained for sentence similarity, and the
words right next to a name ("the River Kennet", "a pony called Dapple", "Leighton Buzzard", "a Mars
bar") tell a brand from a river, a pet or a place more surely than those states do. A logistic model
over hashed word pieces around the name (each of the SIDE pieces before and after it in its slot, the
same as a bag per side, and the pairs across and beside it) is fit on the brand
corpus's brand and non-brand uses (training/sense_context.py); its logit, times a weight, plus an
offset, both chosen on held-out training documents, is added to the sense module's logit. No word list
is written by hand, and the name itself is not read: a prior that learnt "Apple" is mostly the brand in
our corpus called "Apple pie" the brand, and a user's own names are not ours. A linking directory without SENSE_CONTEXT_FILE decides by the sense module alone.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from brandscan.engine.errors import ModelError
from brandscan.engine.stages.sentiment.word_bags import packed

SENSE_CONTEXT_FILE = "sense_context.safetensors"
FORMAT = "brandscan.sense-context/1"
SIDE = 4  # word pieces read on each side of the name
BUCKETS = 1 << 18  # rows of the hashed table: 0.5 MB in float16
_PRIME = 1_000_003  # beyond the vocabulary, so (slot, a, b) triples land apart

# Row slots: positions before (nearest first) and after, bags of each side, pairs.
_BEFORE, _AFTER = 1, 1 + SIDE
_BAG_BEFORE, _BAG_AFTER, _ACROSS, _PAIR_BEFORE, _PAIR_AFTER = (1 + 2 * SIDE + i for i in range(5))


def _rows(slot: int | np.ndarray, a: np.ndarray, b: np.ndarray | int = 0) -> np.ndarray:
    return ((np.asarray(slot, dtype=np.int64) * _PRIME + a) * _PRIME + b) % BUCKETS


def context_rows(input_ids: np.ndarray, start: int, end: int) -> np.ndarray:
    """The table rows the words around the name at token positions [start, end) give (int64, never empty:
    the pair across the name is there even at a document's edges)."""
    ids = np.asarray(input_ids, dtype=np.int64)
    before = ids[max(0, start - SIDE):start][::-1]  # nearest first
    after = ids[end:end + SIDE]
    first_before = before[:1] if len(before) else np.zeros(1, np.int64)
    first_after = after[:1] if len(after) else np.zeros(1, np.int64)
    parts = [
        _rows(_BEFORE + np.arange(len(before)), before), _rows(_AFTER + np.arange(len(after)), after),
        _rows(_BAG_BEFORE, before), _rows(_BAG_AFTER, after),
        _rows(_ACROSS, first_before, first_after),
        _rows(_PAIR_BEFORE, before[1:2], before[:1]), _rows(_PAIR_AFTER, after[:1], after[1:2]),
    ]
    return np.concatenate(parts)


class SenseContext(nn.Module):
    """Log-odds that a name is its brand, from its context rows; `adjustment` is what the sense module's
    logit gets added (weight x log-odds + offset)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.EmbeddingBag(BUCKETS, 1, mode="sum")
        nn.init.zeros_(self.table.weight)
        self.bias = nn.Parameter(torch.zeros(()))
        self.register_buffer("weight", torch.ones(()))
        self.register_buffer("offset", torch.zeros(()))

    def forward(self, rows: Sequence[np.ndarray]) -> Tensor:
        flat, offsets = packed([torch.from_numpy(r) for r in rows])
        return self.table(flat, offsets).squeeze(1) + self.bias  # (S,)

    def adjustment(self, rows: Sequence[np.ndarray]) -> Tensor:
        if not rows:
            return torch.zeros(0)
        return self.weight * self(rows) + self.offset


def save_sense_context(model: SenseContext, path: str | Path, meta: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16 if k == "table.weight" else torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": FORMAT, "side": str(SIDE), "buckets": str(BUCKETS),
                                            **(meta or {})})


def load_sense_context(path: str | Path) -> SenseContext | None:
    """The model in `path`, or None where the file is absent (a head trained before it existed)."""
    from brandscan.engine.model.loader import load_weights, read_safetensors

    path = Path(path)
    if not path.is_file():
        return None
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT or metadata.get("side") != str(SIDE) \
            or metadata.get("buckets") != str(BUCKETS):
        raise ModelError(f"{path}: not a {FORMAT} file with side {SIDE} and {BUCKETS} buckets "
                         f"({json.dumps({k: metadata.get(k) for k in ('format', 'side', 'buckets')})}); "
                         "retrain it with `brandscan train sense-context`")
    model = SenseContext()
    load_weights(model, tensors, path)
    return model.eval()
