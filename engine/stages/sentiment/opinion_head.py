"""The opinion head: four small parts over the document pass's final states (no second encoder pass).

- tagger: every word piece -> O / B / I of an evaluative expression ("not obviously cheap", "a joy
  to use"), a projection and one convolution over the sequence;
- attach: (expression, brand reference, named pair features) -> does the expression judge it;
- polarity: (expression, the reference it judges, its sentence) -> negative / neutral / positive, so
  one expression can praise one brand and fault another ("X's camera beats Y's");
- aspect: (expression, clause, sentence) against each catalogue aspect's embedding (its name and
  terms through the same encoder) plus named term features, and a learned `overall` -> softmax.

Saved as safetensors (float16) beside a JSON config; loaded by stages/load.py.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from brandscan.engine.errors import ModelError
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stages.sentiment.features import ASPECT_FEATURES, PAIR_FEATURES

OPINION_HEAD_FILE = "opinion_head.safetensors"
OPINION_CONFIG_FILE = "opinion_head.json"
TAGS: tuple[str, ...] = ("O", "B", "I")


@dataclass(frozen=True)
class OpinionHeadConfig:
    hidden: int = 384  # the encoder's hidden size
    tag_width: int = 128  # tagger projection and convolution channels
    kernel: int = 5  # tagger convolution width, in word pieces
    pair_width: int = 64  # attach: projection of expression and reference
    inner: int = 128  # polarity MLP hidden width
    aspect_width: int = 128  # aspect: shared space of context and aspect embeddings
    dropout: float = 0.3  # training only (the corpus is small: a few thousand opinions)
    window: int = 2  # sentences before the expression's own where a judged reference may sit
    inside_threshold: float = 0.5  # a word piece is in an expression when 1 - p(O) is at least this
    attach_threshold: float = 0.5  # every brand at or above this is judged
    fallback_threshold: float = 0.2  # else the likeliest brand, if at least this
    encoder_sha256: str = ""  # the merged document encoder whose states the head was trained on


class OpinionHead(nn.Module):
    def __init__(self, config: OpinionHeadConfig) -> None:
        super().__init__()
        d, c = config.hidden, config
        self.drop = nn.Dropout(c.dropout)
        self.tag_in = nn.Linear(d, c.tag_width)
        self.tag_conv = nn.Conv1d(c.tag_width, c.tag_width, c.kernel, padding=c.kernel // 2)
        self.tag_out = nn.Linear(2 * c.tag_width, len(TAGS))
        self.attach_expression = nn.Linear(2 * d, c.pair_width)
        self.attach_reference = nn.Linear(d, c.pair_width)
        self.attach_mlp = nn.Sequential(nn.Linear(3 * c.pair_width + len(PAIR_FEATURES), c.pair_width), nn.GELU(),
                                        nn.Linear(c.pair_width, 1))
        self.polarity_mlp = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(4 * d, c.inner), nn.GELU(),
                                          nn.Dropout(c.dropout), nn.Linear(c.inner, len(HEAD_LABELS)))
        self.aspect_context = nn.Linear(3 * d, c.aspect_width)
        self.aspect_key = nn.Linear(d, c.aspect_width)
        self.aspect_terms = nn.Linear(len(ASPECT_FEATURES), 1)
        self.overall = nn.Parameter(torch.zeros(c.aspect_width))
        self.overall_bias = nn.Parameter(torch.zeros(1))

    def tag(self, states: torch.Tensor) -> torch.Tensor:
        # states (n, d) -> logits (n, 3)
        x = torch.nn.functional.gelu(self.tag_in(self.drop(states)))  # (n, w)
        y = torch.nn.functional.gelu(self.tag_conv(x.T.unsqueeze(0)))[0].T  # (n, w)
        return self.tag_out(torch.cat([x, y], dim=-1))  # (n, 3)

    def attach(self, expression: torch.Tensor, reference: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        # expression (m, 2d) [mean, max]; reference (m, d); features (m, F) -> logits (m,)
        e = self.attach_expression(self.drop(expression))  # (m, p)
        r = self.attach_reference(self.drop(reference))  # (m, p)
        return self.attach_mlp(torch.cat([e, r, e * r, features], dim=-1)).squeeze(-1)

    def polarity(self, expression: torch.Tensor, reference: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        # expression (m, 2d); reference (m, d); sentence (m, d) -> logits (m, 3) in HEAD_LABELS order
        return self.polarity_mlp(torch.cat([expression, reference, sentence], dim=-1))

    def aspect(self, context: torch.Tensor, keys: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
        # context (m, 3d) [expression mean, clause mean, sentence mean]; keys (K, d) aspect embeddings;
        # terms (m, K, A) named term features -> logits (m, 1 + K), column 0 = overall
        q = self.aspect_context(self.drop(context))  # (m, a)
        k = self.aspect_key(keys)  # (K, a)
        scale = math.sqrt(q.shape[-1])
        by_meaning = q @ k.T / scale  # (m, K)
        by_terms = self.aspect_terms(terms).squeeze(-1)  # (m, K)
        overall = (q @ self.overall / scale + self.overall_bias).unsqueeze(-1)  # (m, 1)
        return torch.cat([overall, by_meaning + by_terms], dim=-1)


def save_opinion_head(head: OpinionHead, config: OpinionHeadConfig, directory: Path) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, str(directory / OPINION_HEAD_FILE))
    data = {**asdict(config), "tags": list(TAGS), "labels": list(HEAD_LABELS)}
    (directory / OPINION_CONFIG_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_opinion_head(directory: Path) -> tuple[OpinionHead, OpinionHeadConfig]:
    from brandscan.engine.model.loader import load_weights, read_safetensors

    path = directory / OPINION_CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot load the opinion head: {error}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    if data.pop("tags", None) != list(TAGS) or data.pop("labels", None) != list(HEAD_LABELS):
        raise ModelError(f"{path}: tags must be {list(TAGS)} and labels {list(HEAD_LABELS)}")
    try:
        config = OpinionHeadConfig(**data)
    except TypeError as error:
        raise ModelError(f"{path}: {error}") from None
    tensors, _ = read_safetensors(directory / OPINION_HEAD_FILE)
    head = OpinionHead(config)
    load_weights(head, tensors, directory / OPINION_HEAD_FILE)
    return head.eval(), config


def has_opinion_head(directory: Path) -> bool:
    return (directory / OPINION_CONFIG_FILE).is_file() and (directory / OPINION_HEAD_FILE).is_file()
