"""A BERT-family encoder whose self-attention is sliding-window + global (engine/model/attention.py).

Post-LayerNorm BERT layers (attention, feed-forward with exact GELU), weights named as in
engine/model/convert.py's mapping. Long inputs are streamed through each layer in chunks of
`query_chunk` tokens: a chunk's keys and values are computed from its slab of hidden states
(the chunk plus w/2 tokens either side), so a layer never holds more than its input, its output and
one chunk's temporaries; global queries see every chunk's keys through an online softmax and their
rows are finished after the stream. A 1M-token document thus needs about two copies of the hidden
states, not the ten or so that a whole-sequence forward would hold.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brandscan.engine.model.attention import (
    DEFAULT_BLOCK,
    GlobalLayout,
    GlobalQueryAttention,
    SparseAttention,
    check_window,
    dense_sdpa,
    finalize_probs,
    gather_positions,
    global_layout,
    pad_slab,
    scatter_global_rows,
    window_global_attention,
)
from brandscan.engine.model.rows import LayerAttention, RowAttention, row_attention
from brandscan.engine.stable import single_thread


@dataclass(frozen=True)
class EncoderConfig:
    hidden: int = 384  # model width d
    layers: int = 6
    heads: int = 12  # d / heads = 32 per head
    intermediate: int = 1536  # feed-forward width
    vocab: int = 30522  # WordPiece uncased vocabulary of the default model
    max_positions: int = 512  # learned positions; documents restart them at each passage
    type_vocab: int = 2
    layer_norm_eps: float = 1e-12
    window: int = 256  # w: a token sees w/2 tokens either side (must be even)
    global_budget: int = 512  # at most this many global tokens per sequence (cost O(n * (w + budget)))
    query_chunk: int = 4096  # tokens streamed through a layer at once: bounds peak memory
    pad_token_id: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown encoder config keys {unknown}; expected some of: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EncoderOutput:
    last_hidden: Tensor  # (B, n, d)
    hidden_states: tuple[Tensor, ...] | None  # embeddings + each layer, each (B, n, d)
    attentions: tuple[SparseAttention, ...] | None  # one per layer
    # inputs of the last `keep_layer_inputs` layers, lowest first, each (B, n, d); () when none kept
    layer_inputs: tuple[Tensor, ...] = ()
    # for each kept layer input, that layer's global queries' log softmax sums over every key (B, h, g), in
    # global-position order (GlobalQueryAttention.log_normalizer); () on the dense path (short inputs)
    global_log_normalizers: tuple[Tensor, ...] = ()


class Embeddings(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab, cfg.hidden, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: Tensor, position_ids: Tensor, chunk: int, dtype: torch.dtype | None = None) -> Tensor:
        """(B, n, d) in `dtype` (the weights' by default), written a chunk at a time."""
        B, n = input_ids.shape
        out = self.word.weight.new_empty((B, n, self.word.embedding_dim), dtype=dtype)  # (B, n, d)
        type0 = self.token_type.weight[0]  # (d,): documents are one segment
        for c0 in range(0, n, chunk):  # chunked so a 1M-token input holds no extra full-size temporaries
            c1 = min(n, c0 + chunk)
            e = self.word(input_ids[:, c0:c1]) + self.position(position_ids[:, c0:c1]) + type0  # (B, C, d)
            out[:, c0:c1] = self.norm(e)
        return out


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.query = nn.Linear(cfg.hidden, cfg.hidden)
        self.key = nn.Linear(cfg.hidden, cfg.hidden)
        self.value = nn.Linear(cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)

    def split(self, x: Tensor) -> Tensor:
        B, n, d = x.shape
        return x.view(B, n, self.heads, d // self.heads).transpose(1, 2)  # (B, h, n, dh)

    @staticmethod
    def merge(x: Tensor) -> Tensor:
        B, h, n, dh = x.shape
        return x.transpose(1, 2).reshape(B, n, h * dh)  # (B, n, d)


# Rows below which the bfloat16 feed-forward down projection runs on one thread (FeedForward.forward):
# on an AMX CPU oneDNN split its reduction for 66-508 rows and no other count tried (1-5,000).
SPLIT_ROWS = 1024


class FeedForward(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.hidden, cfg.intermediate)
        self.down = nn.Linear(cfg.intermediate, cfg.hidden)

    def forward(self, x: Tensor) -> Tensor:
        h = F.gelu(self.up(x))  # (B, n, d) -> (B, n, I)
        if x.dtype == torch.bfloat16 and x.device.type == "cpu" and x.shape[0] * x.shape[1] < SPLIT_ROWS:
            # oneDNN splits this product's 1,536-long bfloat16 reduction across threads for some row
            # counts under SPLIT_ROWS (a document's last chunk, its global rows), so its sums would
            # depend on the thread count; on one thread they add up alike everywhere, and reports
            # stay byte-identical whatever --threads and --jobs are (tests/test_determinism.py).
            with single_thread():
                return self.down(h)
        return self.down(h)  # (B, n, I) -> (B, n, d)


class Layer(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)

    def row_attention(self, inputs: Tensor, rows: Tensor, global_positions: Tensor, window: int) -> RowAttention:
        """Attention probabilities of query `rows` as this layer computed them over `inputs` (n, d),
        the layer's input (Encoder.forward's keep_layer_inputs): (h, r, w+1+g), differentiable.
        Post-LayerNorm, so queries and keys are plain projections of the input (model/rows.py)."""
        return row_attention(self.attention_of(inputs), rows, global_positions, window)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype this layer computes in (float32 for float32 and int8 weights): an input stored in
        a 16-bit type (Encoder.forward's store_dtype) is read in it."""
        return self.attn_norm.weight.dtype

    def attention_of(self, inputs: Tensor, global_log_normalizer: Tensor | None = None) -> LayerAttention:
        """What recomputing this layer's rows over `inputs` (n, d) takes (model/rows.py, rollout); with the
        (h, g) log-normalizers this layer's pass kept for its global queries (EncoderOutput), a global row
        is recomputed in one pass over the keys instead of two."""
        att, dtype = self.attention, self.compute_dtype
        if inputs.dtype == dtype:
            return LayerAttention(inputs, att.query, att.key, att.heads, global_log_normalizer)
        return LayerAttention(inputs, lambda t: att.query(t.to(dtype)), lambda t: att.key(t.to(dtype)), att.heads,
                              global_log_normalizer)

    def finish(self, attn: Tensor, x: Tensor) -> Tensor:
        """Everything after the attention product: (B, C, d) attention heads merged, (B, C, d) input."""
        x = self.attn_norm(x + self.attention.out(attn))  # (B, C, d)
        return self.ffn_norm(x + self.ffn(x))

    def forward_dense(self, x: Tensor, key_valid: Tensor | None) -> Tensor:
        """Every token sees every token (the window covers the input): one SDPA call."""
        att = self.attention
        x = x.to(self.compute_dtype)
        q, k, v = att.split(att.query(x)), att.split(att.key(x)), att.split(att.value(x))  # (B, h, n, dh)
        return self.finish(att.merge(dense_sdpa(q, k, v, key_valid)), x)

    def chunk(
        self, slab: Tensor, slab_key: Tensor, x: Tensor, key_valid: Tensor,
        k_glob: Tensor, v_glob: Tensor, glob_valid: Tensor, half: int, block: int, return_probs: bool,
    ) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor] | None]:
        """One chunk of C queries through the whole layer.

        slab (B, cp + 2*half, d): hidden states of positions c0 - half .. c0 + cp + half, zero outside
        the sequence (cp: C rounded up to whole blocks); slab_key (B, cp + 2*half): which of them are
        window keys; x (B, C, d) and key_valid (B, C): the chunk itself. Returns the layer output
        (B, C, d), the chunk's own keys and values (B, h, C, dh) for the global queries, and with
        return_probs the window and global-key probabilities (B, h, C, w+1), (B, h, C, g).
        """
        att = self.attention
        C, cp = x.shape[1], slab.shape[1] - 2 * half
        scale = 1.0 / math.sqrt(x.shape[2] // att.heads)
        k_slab, v_slab = att.split(att.key(slab)), att.split(att.value(slab))  # (B, h, cp + 2*half, dh)
        q = att.split(att.query(slab[:, half : half + cp])) * scale  # (B, h, cp, dh)
        o, pw, pg = window_global_attention(
            q, k_slab, v_slab, slab_key, k_glob, v_glob, glob_valid, half, block, return_probs
        )
        attn = att.merge(o[:, :, :C]).masked_fill(~key_valid[:, :, None], 0.0)  # (B, C, d): padded queries see nothing
        probs = (pw[:, :, :C], pg[:, :, :C]) if return_probs else None
        # the chunk's own keys sit at slab offset half
        return self.finish(attn, x), k_slab[:, :, half : half + C], v_slab[:, :, half : half + C], probs

    def forward_sparse(
        self, x: Tensor, layout: GlobalLayout, half: int, chunk: int, block: int, return_probs: bool,
        in_place: bool = False,
    ) -> tuple[Tensor, SparseAttention | None, Tensor]:
        """The layer over the whole sequence, chunk by chunk. With `in_place` the output overwrites x
        (which the caller must not need again): a chunk's output is written once the next chunk's slab
        has been read, the last moment any query still sees that chunk's input through its window. A
        layer then holds one (n, d) tensor instead of its input and output (1.6 GB less at 1M tokens
        in float32). An x stored in another dtype than the layer computes in is read a chunk at a time
        in that dtype, and the output is stored like x."""
        att = self.attention
        B, n, d = x.shape
        dtype = self.compute_dtype
        scale = 1.0 / math.sqrt(d // att.heads)
        x_glob = gather_positions(x, layout.gather_index).to(dtype)  # (B, g, d)
        k_glob, v_glob = att.split(att.key(x_glob)), att.split(att.value(x_glob))  # (B, h, g, dh)
        glob = GlobalQueryAttention(att.split(att.query(x_glob)) * scale, n, keep_scores=return_probs)
        # A slab reaches `half` positions back, into the previous chunk only when chunk >= half.
        in_place = in_place and chunk >= half
        out = x if in_place else torch.empty_like(x)  # (B, n, d)
        pending: tuple[int, int, Tensor] | None = None  # in place: the previous chunk's output, unwritten
        g = layout.index.shape[1]
        win_p = x.new_zeros((B, att.heads, n, 2 * half + 1), dtype=dtype) if return_probs else None
        to_g = x.new_zeros((B, att.heads, n, g), dtype=dtype) if return_probs else None
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            cp = -(-(c1 - c0) // block) * block  # whole blocks
            slab = pad_slab(x, 1, c0 - half, c0 + cp + half).to(dtype)  # (B, cp + 2*half, d)
            slab_key = pad_slab(layout.window_key, 1, c0 - half, c0 + cp + half, False)  # (B, cp + 2*half)
            chunk_out, k_own, v_own, probs = self.chunk(
                slab, slab_key, x[:, c0:c1].to(dtype), layout.key_valid[:, c0:c1], k_glob, v_glob, layout.valid,
                half, block, return_probs,
            )
            if not in_place:
                out[:, c0:c1] = chunk_out
            else:
                if pending is not None:
                    out[:, pending[0] : pending[1]] = pending[2]
                pending = (c0, c1, chunk_out)
            if probs is not None:
                win_p[:, :, c0:c1], to_g[:, :, c0:c1] = probs
            glob.update(k_own, v_own, layout.key_valid[:, c0:c1], c0)
        if pending is not None:
            out[:, pending[0] : pending[1]] = pending[2]
        o_glob, from_g = glob.finish()  # (B, h, g, dh)
        log_normalizer = glob.log_normalizer()  # (B, h, g)
        scatter_global_rows(out, layout, self.finish(att.merge(o_glob), x_glob).to(out.dtype))
        if not return_probs:
            return out, None, log_normalizer
        return out, finalize_probs(win_p, to_g, from_g, layout), log_normalizer


# The query block of the window product for 16-bit products on CPU. The fused kernel's cost there follows
# the key slots it scores ((b + w) per query, masked or not) rather than the number of calls, unlike float32
# (attention.DEFAULT_BLOCK): a 106k-token pass in bfloat16 on the Intel host (AMX) took 6.30-6.38 s at b = 256
# and 5.88-6.05 s at 128 (alternating in one warm process, four runs each), 5.9 s at 64, reports identical.
HALF_PRECISION_CPU_BLOCK = 128


def query_block(compute_dtype: torch.dtype, device: torch.device) -> int:
    """The window product's query block for a layer computing in `compute_dtype` on `device`."""
    if device.type == "cpu" and compute_dtype in (torch.bfloat16, torch.float16):
        return HALF_PRECISION_CPU_BLOCK
    return DEFAULT_BLOCK


def _stored(x: Tensor, dtype: torch.dtype | None) -> Tensor:
    return x if dtype is None else x.to(dtype)


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        check_window(config.window)
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.layers))

    def forward(
        self,
        input_ids: Tensor,  # (B, n) int64
        position_ids: Tensor,  # (B, n) int64, restarting at each passage
        global_mask: Tensor,  # (B, n) bool, True = global token
        attention_mask: Tensor | None = None,  # (B, n) bool, False = padding
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        keep_layer_inputs: int = 0,  # keep the inputs of the last this-many layers (attribution)
        window: int | None = None,  # this pass's window; None: the config's (the config is never changed)
        store_dtype: torch.dtype | None = None,  # kept inputs and final states stored so (see below)
    ) -> EncoderOutput:
        """With `store_dtype` (float16 under float32 weights) the hidden states between layers are
        stored in that type: every layer reads its input a chunk at a time in the dtype it computes in
        and stores its output in `store_dtype`. The kept layer inputs and the final states are then
        16-bit, and the attention rows recomputed from a kept input (model/rows.py) are the ones the
        layer used. At 1M tokens each (n, d) tensor is 0.8 GB instead of 1.6, and no float32 one is
        ever whole, the embeddings' included (issue 16: the whole analysis of 1M tokens in float32
        peaked at 2.80-2.94 GiB, from 4.24; bench/README.md)."""
        cfg = self.config
        half = check_window(cfg.window if window is None else window)
        keep_from = len(self.layers) - keep_layer_inputs
        kept: list[Tensor] = []
        kept_normalizers: list[Tensor] = []  # each kept layer's global log-normalizers (sparse pass only)
        n = input_ids.shape[1]
        if n and int(position_ids.max()) >= cfg.max_positions:
            raise ValueError(
                f"position id {int(position_ids.max())} >= max_positions {cfg.max_positions}: "
                "restart positions at each passage"
            )
        key_valid = None if attention_mask is None else attention_mask.bool()
        x = self.embeddings(input_ids, position_ids, cfg.query_chunk, store_dtype)  # (B, n, d)
        hidden = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        if not output_attentions and n - 1 <= half:
            for i, layer in enumerate(self.layers):  # short input: the window covers it, plain dense attention
                if i >= keep_from:
                    kept.append(x)
                x = _stored(layer.forward_dense(x, key_valid), store_dtype)
                if hidden is not None:
                    hidden.append(x)
        else:
            layout = global_layout(global_mask, key_valid)
            if layout.index.shape[1] > cfg.global_budget:
                raise ValueError(
                    f"{layout.index.shape[1]} global tokens exceed the budget of {cfg.global_budget}: "
                    "choose them with brandscan.engine.stages.globals.select_global_tokens"
                )
            block = max(1, min(query_block(self.layers[0].compute_dtype, x.device), n))
            chunk = max(block, cfg.query_chunk // block * block)
            for i, layer in enumerate(self.layers):
                if i >= keep_from:
                    kept.append(x)
                # In place unless something else holds x: the caller's hidden states, a kept input, autograd.
                in_place = i < keep_from and hidden is None and not (torch.is_grad_enabled() and x.requires_grad)
                x, probs, log_normalizer = layer.forward_sparse(x, layout, half, chunk, block, output_attentions,
                                                                in_place)
                if i >= keep_from:
                    kept_normalizers.append(log_normalizer)
                if hidden is not None:
                    hidden.append(x)
                if attentions is not None:
                    attentions.append(probs)
        return EncoderOutput(
            last_hidden=x,
            hidden_states=tuple(hidden) if hidden is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
            layer_inputs=tuple(kept),
            global_log_normalizers=tuple(kept_normalizers),
        )
