"""The opinion head: four small parts over the document pass's final states (no second encoder pass).

- tagger: every word piece -> O / B / I of an evaluative expression ("not obviously cheap", "a joy
  to use"), a projection and one convolution over the sequence;
- attach: (expression, brand reference, named pair features) -> does the expression judge it;
- polarity: (expression, the reference it judges, its sentence) -> negative / neutral / positive, so
  one expression can praise one brand and fault another ("X's camera beats Y's");
- aspect: (expression, clause, sentence) against each catalogue aspect's embedding (its name and
  terms through the same encoder) plus named term features, and a learned `overall` -> softmax.

With `words` > 0 the tagger also reads each word piece's own learned vector, and polarity and aspect
read a learned bag of the expression's words, word pairs and clause words (word_bags.py): the frozen
states say less about "lost my bag" than its words do. The aspect part maps the bag into the space
it compares with the catalogue's aspect embeddings, so a user's own aspects still work.

Saved as safetensors (float16) beside a JSON config; loaded by stages/load.py.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from brandscan.engine.errors import ModelError
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stages.sentiment.features import ASPECT_FEATURES, PAIR_FEATURES
from brandscan.engine.stages.sentiment.word_bags import ROWS, VOCAB, packed

OPINION_HEAD_FILE = "opinion_head.safetensors"
OPINION_CONFIG_FILE = "opinion_head.json"
TAGS: tuple[str, ...] = ("O", "B", "I")


@dataclass(frozen=True)
class OpinionHeadConfig:
    hidden: int = 384  # the encoder's hidden size
    tag_width: int = 128  # tagger projection and convolution channels
    kernel: int = 5  # tagger convolution width, in word pieces
    # Convolutions stacked in the tagger, each dilated twice the last (residual): 2 sees 13 word pieces,
    # enough for "replaced the laces for free" to be tagged as one run. 1: heads trained before it.
    tag_layers: int = 1
    pair_width: int = 64  # attach: projection of expression and reference
    inner: int = 128  # polarity MLP hidden width
    aspect_width: int = 128  # aspect: shared space of context and aspect embeddings
    dropout: float = 0.3  # training only (the corpus is small: a few thousand opinions)
    window: int = 2  # sentences before the expression's own where a judged reference may sit
    inside_threshold: float = 0.5  # a word piece is in an expression when 1 - p(O) is at least this
    attach_threshold: float = 0.5  # every brand at or above this is judged
    fallback_threshold: float = 0.2  # else the likeliest brand, if at least this
    words: int = 0  # width of the learned word vectors (word_bags.py); 0: the head reads states only
    tag_words: int = 16  # width of the tagger's own word-piece vectors (when words > 0)
    encoder_sha256: str = ""  # the merged document encoder whose states the head was trained on


class OpinionHead(nn.Module):
    def __init__(self, config: OpinionHeadConfig) -> None:
        super().__init__()
        d, c = config.hidden, config
        self.config_words = c.words  # 0: a states-only head (word_vectors gives None)
        self.drop = nn.Dropout(c.dropout)
        self.tag_in = nn.Linear(d, c.tag_width)
        self.tag_conv = nn.Conv1d(c.tag_width, c.tag_width, c.kernel, padding=c.kernel // 2)
        self.tag_more = nn.ModuleList(
            nn.Conv1d(c.tag_width, c.tag_width, c.kernel, padding=(c.kernel // 2) * 2 ** i, dilation=2 ** i)
            for i in range(1, c.tag_layers))
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
        if c.words:
            self.word_table = nn.EmbeddingBag(ROWS, c.words, mode="mean")
            self.tag_word = nn.Embedding(VOCAB, c.tag_words)
            self.tag_word_in = nn.Linear(c.tag_words, c.tag_width, bias=False)
            self.word_polarity = nn.Linear(c.words, len(HEAD_LABELS))
            self.word_aspect = nn.Linear(c.words, c.aspect_width, bias=False)
            for table in (self.word_table.weight, self.tag_word.weight):
                nn.init.normal_(table, std=0.1)

    def word_vectors(self, bags: Sequence[torch.Tensor]) -> torch.Tensor | None:
        # bags: per expression, its word_bags row ids -> (m, words), or None for a states-only head
        if not self.config_words:
            return None
        flat, offsets = packed(bags)
        return self.drop(self.word_table(flat, offsets))

    def tag(self, states: torch.Tensor, input_ids: torch.Tensor | None = None) -> torch.Tensor:
        # states (n, d), input_ids (n,) (read when the head reads words) -> logits (n, 3)
        x = self.tag_in(self.drop(states))  # (n, w)
        if self.config_words:
            assert input_ids is not None, "this head reads word pieces: pass input_ids"
            x = x + self.tag_word_in(self.drop(self.tag_word(input_ids % VOCAB)))
        x = torch.nn.functional.gelu(x)
        y = torch.nn.functional.gelu(self.tag_conv(x.T.unsqueeze(0)))  # (1, w, n)
        for conv in self.tag_more:
            y = y + torch.nn.functional.gelu(conv(self.drop(y)))
        return self.tag_out(torch.cat([x, y[0].T], dim=-1))  # (n, 3)

    def attach(self, expression: torch.Tensor, reference: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        # expression (m, 2d) [mean, max]; reference (m, d); features (m, F) -> logits (m,)
        e = self.attach_expression(self.drop(expression))  # (m, p)
        r = self.attach_reference(self.drop(reference))  # (m, p)
        return self.attach_mlp(torch.cat([e, r, e * r, features], dim=-1)).squeeze(-1)

    def polarity(self, expression: torch.Tensor, reference: torch.Tensor, sentence: torch.Tensor,
                 words: torch.Tensor | None = None) -> torch.Tensor:
        # expression (m, 2d); reference (m, d); sentence (m, d); words (m, w) word_vectors or None
        # -> logits (m, 3) in HEAD_LABELS order
        logits = self.polarity_mlp(torch.cat([expression, reference, sentence], dim=-1))
        return logits if words is None else logits + self.word_polarity(words)

    def aspect(self, context: torch.Tensor, keys: torch.Tensor, terms: torch.Tensor,
               words: torch.Tensor | None = None) -> torch.Tensor:
        # context (m, 3d) [expression mean, clause mean, sentence mean]; keys (K, d) aspect embeddings;
        # terms (m, K, A) named term features; words (m, w) or None -> logits (m, 1 + K), column 0 = overall
        q = self.aspect_context(self.drop(context))  # (m, a)
        if words is not None:
            q = q + self.word_aspect(words)
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
