"""Aspect polarity: the encoder (with a LoRA adapter) plus a small head over the aspect term's states.

Input format: one sequence per sentence, `[CLS] sentence [SEP]`, holding every aspect term of that
sentence (target-dependent pooling, as TD-BERT does). The sentence is encoded once however many
aspect terms it holds, which keeps analysis of long documents cheap: only sentences that contain an
aspect term are encoded again, never the whole document.

For each term the head reads three vectors: the sentence's [CLS] state, the mean of the term's
word-piece states, and a context vector that the term attends to over the sentence (one learned
query). The softmax weights of that attention are kept: they are the opinion-word evidence
(`Scored.context`), so the spans a report shows are the ones the polarity decision read.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Tokenizer
from torch import nn

from brandscan.engine.errors import ModelError
from brandscan.engine.report import HEAD_LABELS
from brandscan.engine.stable import DECIMALS, WEIGHT_DECIMALS, ranked, rounded, single_thread

if TYPE_CHECKING:  # pragma: no cover
    pass

HEAD_FILE = "head.safetensors"
CONFIG_FILE = "head.json"


@dataclass(frozen=True)
class SentimentHeadConfig:
    hidden: int = 384  # the encoder's hidden size (MiniLM-L6: 384)
    inner: int = 128  # width of the head's one hidden layer
    dropout: float = 0.1  # on the head's input and hidden layer, training only
    max_tokens: int = 128  # longest sequence, [CLS] and [SEP] included; longer sentences are windowed
    lora_rank: int = 8  # rank 8 on all six linear maps of 6 layers: 0.33M parameters
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("query", "key", "value", "out", "up", "down")


class SentimentHead(nn.Module):
    """(states of a sentence, one term's token mask) -> 3 logits and context attention weights."""

    def __init__(self, config: SentimentHeadConfig) -> None:
        super().__init__()
        d = config.hidden
        self.query = nn.Linear(d, d)  # the term's mean state -> a query over the sentence
        self.mlp = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(3 * d, config.inner),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.inner, len(HEAD_LABELS)),
        )

    def forward(
        self, states: torch.Tensor, valid: torch.Tensor, term: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # states (m, n, d): each term's sentence states; valid (m, n) bool: real word pieces
        # (not [CLS], [SEP] or padding); term (m, n) bool: the term's word pieces.
        d = states.shape[-1]
        term_f = term.to(states.dtype).unsqueeze(-1)  # (m, n, 1)
        term_vec = (states * term_f).sum(1) / term_f.sum(1).clamp(min=1.0)  # (m, d)
        cls = states[:, 0]  # (m, d)
        q = self.query(term_vec)  # (m, d)
        scores = torch.einsum("mnd,md->mn", states, q) / math.sqrt(d)  # (m, n)
        scores = scores.masked_fill(~valid, float("-inf"))
        weights = scores.softmax(dim=-1)  # (m, n)
        context = torch.einsum("mn,mnd->md", weights, states)  # (m, d)
        logits = self.mlp(torch.cat([cls, term_vec, context], dim=-1))  # (m, 3)
        return logits, weights


@dataclass(frozen=True)
class AspectQuery:
    """One aspect term occurrence: `text[start:end]` is the term, `text` its sentence (or clause)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Scored:
    polarity: str  # one of HEAD_LABELS
    probabilities: tuple[float, float, float]  # in HEAD_LABELS order: negative, neutral, positive
    score: float  # p(positive) - p(negative), in [-1, 1]
    context: tuple[tuple[int, int, float], ...]  # (start, end, weight) of word pieces in the text


@dataclass(frozen=True)
class SentenceBatch:
    """Sequences and the terms to score in them; built on CPU, moved with `to`."""

    input_ids: torch.Tensor  # (B, n) int64
    attention_mask: torch.Tensor  # (B, n) bool
    valid: torch.Tensor  # (B, n) bool: real word pieces
    offsets: list[list[tuple[int, int]]]  # per sequence, character offsets of positions 1.. (no CLS)
    seq: torch.Tensor  # (m,) int64: the sequence each term sits in
    term: torch.Tensor  # (m, n) bool

    def to(self, device: torch.device | str) -> SentenceBatch:
        return SentenceBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.valid.to(device),
            self.offsets,
            self.seq.to(device),
            self.term.to(device),
        )


def _window(n_pieces: int, first: int, last: int, room: int) -> tuple[int, int]:
    # A window of at most `room` word pieces around [first, last), centred on the term.
    if n_pieces <= room:
        return 0, n_pieces
    lo = max(0, min((first + last - room) // 2, n_pieces - room))
    return lo, lo + room


def build_batch(
    tokenizer: Tokenizer, sentences: Sequence[tuple[str, Sequence[tuple[int, int]]]], max_tokens: int
) -> tuple[SentenceBatch, list[tuple[int, int]]]:
    """Lay out sentences with their term spans (characters). Returns the batch and, per term in input
    order, (sequence, first piece) for bookkeeping. A sentence longer than `max_tokens` gets one
    window per term, centred on it."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    encodings = tokenizer.encode_batch([text for text, _ in sentences], add_special_tokens=False)
    room = max_tokens - 2
    rows: list[tuple[list[int], list[tuple[int, int]]]] = []
    terms: list[tuple[int, int, int]] = []  # (row, first, last) in row positions
    where: list[tuple[int, int]] = []
    for (text, spans), enc in zip(sentences, encodings):
        ids, offs = enc.ids, [tuple(o) for o in enc.offsets]
        shared_row = -1
        for start, end in spans:
            pieces = [i for i, (s, e) in enumerate(offs) if s < end and e > start]
            if not pieces:
                raise ValueError(f"aspect term {text[start:end]!r} holds no word piece")
            lo, hi = _window(len(ids), pieces[0], pieces[-1] + 1, room)
            if lo == 0 and hi == len(ids):
                if shared_row < 0:  # the whole sentence fits: one row for all its terms
                    rows.append((ids, offs))
                    shared_row = len(rows) - 1
                row = shared_row
            else:
                rows.append((ids[lo:hi], offs[lo:hi]))
                row = len(rows) - 1
            # +1: position 0 of every row is [CLS].
            terms.append((row, pieces[0] - lo + 1, pieces[-1] - lo + 2))
            where.append((row, pieces[0] - lo + 1))
    n = max(len(r[0]) for r in rows) + 2 if rows else 2
    input_ids = torch.zeros(len(rows), n, dtype=torch.long)  # (B, n), 0 = [PAD]
    attention = torch.zeros(len(rows), n, dtype=torch.bool)  # (B, n)
    valid = torch.zeros(len(rows), n, dtype=torch.bool)  # (B, n)
    for r, (ids, _) in enumerate(rows):
        k = len(ids)
        input_ids[r, : k + 2] = torch.tensor([cls_id, *ids, sep_id])
        attention[r, : k + 2] = True
        valid[r, 1 : k + 1] = True
    seq = torch.tensor([t[0] for t in terms], dtype=torch.long)  # (m,)
    term = torch.zeros(len(terms), n, dtype=torch.bool)  # (m, n)
    for i, (_, first, last) in enumerate(terms):
        term[i, first:last] = True
    return SentenceBatch(input_ids, attention, valid, [r[1] for r in rows], seq, term), where


def encode_states(encoder: nn.Module, batch: SentenceBatch) -> torch.Tensor:
    """The encoder's last hidden states for a batch: (B, n, d)."""
    b, n = batch.input_ids.shape
    positions = torch.arange(n, device=batch.input_ids.device).expand(b, n)  # (B, n)
    global_mask = torch.zeros_like(batch.attention_mask)  # (B, n)
    global_mask[:, 0] = True  # [CLS] is the sentence's marker, as passages mark theirs
    out = encoder(batch.input_ids, positions, global_mask, attention_mask=batch.attention_mask)
    return out.last_hidden


def forward_batch(encoder: nn.Module, head: SentimentHead, batch: SentenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (m, 3) and context weights (m, n) for every term of the batch."""
    states = encode_states(encoder, batch)  # (B, n, d)
    per_term = states[batch.seq].float()  # (m, n, d)
    with single_thread():  # a small head: one thread keeps its sums, and so its scores, fixed
        return head(per_term, batch.valid[batch.seq], batch.term)


def save_head(head: SentimentHead, config: SentimentHeadConfig, directory: Path) -> None:
    import json

    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    # float16 on disk keeps the shipped head small; it is widened to float32 on load.
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, str(directory / HEAD_FILE))
    config_data = {**asdict(config), "labels": list(HEAD_LABELS), "input": "[CLS] sentence [SEP]"}
    (directory / CONFIG_FILE).write_text(json.dumps(config_data, indent=2) + "\n", encoding="utf-8")


def load_head(directory: Path) -> tuple[SentimentHead, SentimentHeadConfig]:
    import json

    from brandscan.engine.model.loader import load_weights, read_safetensors

    try:
        data = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{directory / CONFIG_FILE}: cannot load the sentiment head: {error}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{directory / CONFIG_FILE}: expected a JSON object")
    tensors, _ = read_safetensors(directory / HEAD_FILE)
    if data.pop("labels", list(HEAD_LABELS)) != list(HEAD_LABELS):
        raise ModelError(f"{directory / CONFIG_FILE}: labels must be {list(HEAD_LABELS)}")
    data.pop("input", None)
    data["lora_targets"] = tuple(data.get("lora_targets", ()))
    try:
        config = SentimentHeadConfig(**data)
    except TypeError as error:
        raise ModelError(f"{directory / CONFIG_FILE}: {error}") from None
    head = SentimentHead(config)
    load_weights(head, tensors, directory / HEAD_FILE)
    head.eval()
    return head, config


class SentimentScorer:
    """The trained polarity model, ready to score aspect term occurrences (inference only)."""

    def __init__(
        self,
        encoder: nn.Module,
        head: SentimentHead,
        config: SentimentHeadConfig,
        tokenizer: Tokenizer,
        *,
        device: str = "cpu",
        batch_size: int = 128,
        batch_chars: int = 24000,
        top_context: int = 8,
    ) -> None:
        self.encoder = encoder.eval()
        self.head = head.eval().to(device)
        self.config = config
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size  # at most this many sentences per encoder call
        # ... and at most about this many characters of padded rows: long sentences go in small
        # batches, so padding never multiplies the work.
        self.batch_chars = batch_chars
        self.top_context = top_context  # context word pieces kept per term, by weight

    @torch.inference_mode()
    def score(self, queries: Sequence[AspectQuery]) -> list[Scored]:
        """Polarity of each query, in input order; queries that share a text share one encoding."""
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q.text, []).append(i)
        # Similar lengths share a batch, so padding stays small on long documents.
        texts = sorted(groups, key=len)
        results: list[Scored | None] = [None] * len(queries)
        for chunk in self._chunks(texts):
            items = [(t, [(queries[i].start, queries[i].end) for i in groups[t]]) for t in chunk]
            batch, _ = build_batch(self.tokenizer, items, self.config.max_tokens)
            logits, weights = forward_batch(self.encoder, self.head, batch.to(self.device))
            probs = logits.float().softmax(-1).cpu()  # (m, 3)
            weights = weights.float().cpu()  # (m, n)
            order = [i for t in chunk for i in groups[t]]
            for k, index in enumerate(order):
                row = int(batch.seq[k])
                results[index] = self._scored(probs[k], weights[k], batch.offsets[row])
        return [r for r in results if r is not None]

    def _chunks(self, texts: list[str]) -> list[list[str]]:
        # `texts` are sorted by length: each chunk is padded to its last (longest) text.
        chunks: list[list[str]] = []
        for text in texts:
            width = min(len(text), self.config.max_tokens * 6)  # windows cap a row's length
            if chunks and len(chunks[-1]) < self.batch_size and width * (len(chunks[-1]) + 1) <= self.batch_chars:
                chunks[-1].append(text)
            else:
                chunks.append([text])
        return chunks

    def _scored(self, probs: torch.Tensor, weights: torch.Tensor, offsets: list[tuple[int, int]]) -> Scored:
        # Rounded before the label is chosen (ties to the earlier polarity), so that the label and the
        # reported probabilities never depend on the thread count (stable.py).
        p = rounded(probs.numpy())  # (3,)
        label = HEAD_LABELS[int(ranked(p)[0])]
        # Positions 1..len(offsets) are the word pieces; 0 is [CLS].
        w = rounded(weights[1 : len(offsets) + 1].numpy(), WEIGHT_DECIMALS)
        top = ranked(w, WEIGHT_DECIMALS)[: self.top_context].tolist()
        context = tuple((offsets[j][0], offsets[j][1], float(w[j])) for j in sorted(top))
        return Scored(label, (float(p[0]), float(p[1]), float(p[2])), round(float(p[2] - p[0]), DECIMALS), context)
