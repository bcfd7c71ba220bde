"""The encoder against an independent dense BERT forward of the same weights."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from brandscan.engine.model.encoder import Encoder, EncoderConfig
from brandscan.engine.model.loader import load_model

TEXT = [
    "The Trailmaster 2 tent kept us dry through three nights of rain, but the zips jammed twice.",
    "Northpeak replaced it within a week. Their support team was friendly and quick.",
    "I would still buy it again, although the poles feel flimsy compared with the old model.",
]


@pytest.fixture(scope="module")
def model():
    return load_model(dtype="float32", threads=1)


def encode_passages(tokenizer_file, passages):
    """Passages laid end to end, each [CLS] ... [SEP], positions restarting at each [CLS]."""
    tok = Tokenizer.from_file(str(tokenizer_file))
    tok.no_padding()  # the shipped tokenizer.json pads to 128 (sentence-transformers' setting)
    ids, pos, markers = [], [], []
    for text in passages:
        enc = tok.encode(text).ids  # [CLS] ... [SEP]
        markers.append(len(ids))
        ids += enc
        pos += list(range(len(enc)))
    return torch.tensor([ids]), torch.tensor([pos]), markers


def dense_bert(state, cfg, ids, pos, allowed):
    """A plain BERT forward written from the paper's equations; allowed: (B, n, n) bool mask."""
    def p(name):
        return state[name].float()

    def ln(x, name):
        return F.layer_norm(x, (cfg.hidden,), p(name + ".weight"), p(name + ".bias"), cfg.layer_norm_eps)

    def lin(x, name):
        return x @ p(name + ".weight").T + p(name + ".bias")

    x = p("embeddings.word.weight")[ids] + p("embeddings.position.weight")[pos] + p("embeddings.token_type.weight")[0]
    x = ln(x, "embeddings.norm")
    B, n, d = x.shape
    h, dh = cfg.heads, cfg.hidden // cfg.heads
    for i in range(cfg.layers):
        pre = f"layers.{i}."
        q, k, v = (lin(x, pre + f"attention.{m}").view(B, n, h, dh).transpose(1, 2) for m in ("query", "key", "value"))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        ctx = (scores.softmax(-1).nan_to_num(0.0) @ v).transpose(1, 2).reshape(B, n, d)
        x = ln(x + lin(ctx, pre + "attention.out"), pre + "attn_norm")
        ff = lin(0.5 * lin(x, pre + "ffn.up") * (1 + torch.erf(lin(x, pre + "ffn.up") / math.sqrt(2))), pre + "ffn.down")
        x = ln(x + ff, pre + "ffn_norm")
    return x


def variant(model, **changes):  # type: ignore[no-untyped-def]
    """The model's encoder built with other config values (same weights); the model is not changed."""
    from brandscan.engine.model.encoder import Encoder

    encoder = Encoder(replace(model.config, **changes)).to(model.dtype)
    encoder.load_state_dict(model.encoder.state_dict())
    return encoder.eval()


def test_keep_layer_inputs_are_the_hidden_states_before_each_kept_layer(model):
    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT)
    glob = torch.zeros_like(ids, dtype=torch.bool)
    glob[0, markers] = True
    with torch.inference_mode():
        for window in (8, 256):  # the blocked path, then the dense dispatch
            out = model.encoder(ids, pos, glob, output_hidden_states=True, keep_layer_inputs=2, window=window)
            assert len(out.layer_inputs) == 2
            assert torch.equal(out.layer_inputs[0], out.hidden_states[-3])
            assert torch.equal(out.layer_inputs[1], out.hidden_states[-2])
    assert model.encoder.config == model.config  # the window was an argument, not a setting


def test_full_window_equals_dense_bert(model):
    ids, pos, _ = encode_passages(model.tokenizer_file, [" ".join(TEXT)])
    n = ids.shape[1]
    state = model.encoder.state_dict()
    with torch.inference_mode():
        ref = dense_bert(state, model.config, ids, pos, torch.ones(1, n, n, dtype=torch.bool))
        out = model.encoder(ids, pos, torch.zeros_like(ids, dtype=torch.bool)).last_hidden  # dense dispatch
        # the blocked sparse path with a window that covers the input computes the same thing
        sparse = variant(model, query_chunk=16)(ids, pos, torch.zeros_like(ids, dtype=torch.bool),
                                                output_attentions=True, window=2 * n)
    assert n == 60
    assert (out - ref).abs().max().item() < 1e-4
    assert (sparse.last_hidden - ref).abs().max().item() < 1e-4


def test_window_and_globals_equal_masked_dense_bert(model):
    # three passages, positions restarting; markers and the brand's first sub-token are global
    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT)
    n = ids.shape[1]
    window = 8
    glob = torch.zeros(1, n, dtype=torch.bool)
    glob[0, markers] = True
    north = markers[1] + 1  # "northpeak" starts passage 2
    glob[0, north] = True
    idx = torch.arange(n)
    allowed = ((idx[:, None] - idx[None, :]).abs() <= window // 2) | glob[0][:, None] | glob[0][None, :]
    with torch.inference_mode():
        ref = dense_bert(model.encoder.state_dict(), model.config, ids, pos, allowed[None])
        out = variant(model, query_chunk=16)(ids, pos, glob, output_attentions=True, output_hidden_states=True,
                                             window=window)
    assert pos[0, markers].tolist() == [0, 0, 0]
    assert (out.last_hidden - ref).abs().max().item() < 1e-4
    assert len(out.hidden_states) == 7 and len(out.attentions) == 6
    assert out.attentions[0].global_index.tolist() == [[*markers[:2], north, markers[2]]]
    assert out.attentions[5].window.shape == (1, 12, n, window + 1)


def test_layers_in_place_compute_what_layers_with_a_new_output_do(model):
    # Without hidden states or kept inputs every layer overwrites its input chunk by chunk; a chunk's
    # output must not reach the next chunk's window keys. 15 passages (about 350 tokens) run as two
    # chunks of 256 queries, so the second chunk's window reads back into the first.
    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT * 5)
    glob = torch.zeros_like(ids, dtype=torch.bool)
    glob[0, markers[::4]] = True
    n = ids.shape[1]
    assert n > 256
    encoder = variant(model, query_chunk=256)
    with torch.inference_mode():
        for window in (8, 64):
            in_place = encoder(ids, pos, glob, window=window)
            kept = encoder(ids, pos, glob, output_hidden_states=True, keep_layer_inputs=1, window=window)
            assert torch.equal(in_place.last_hidden, kept.last_hidden)
            assert torch.equal(kept.layer_inputs[0], kept.hidden_states[-2])  # the kept input was not overwritten
    idx = torch.arange(n)
    allowed = ((idx[:, None] - idx[None, :]).abs() <= 4) | glob[0][:, None] | glob[0][None, :]
    ref = dense_bert(model.encoder.state_dict(), model.config, ids, pos, allowed[None])
    with torch.inference_mode():
        assert (encoder(ids, pos, glob, window=8).last_hidden - ref).abs().max().item() < 1e-4


def test_a_float16_store_halves_what_is_kept_and_the_kept_rows_are_what_the_layer_read(model):
    # issue 16: a float32 pass stores its states between layers in float16 (1M tokens in 3 GB); the
    # last layer reads the stored input, so rows recomputed from it are the layer's own.
    from brandscan.engine.model.rows import row_attention

    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT * 5)
    glob = torch.zeros_like(ids, dtype=torch.bool)
    glob[0, markers[::4]] = True
    encoder = variant(model, query_chunk=256)
    with torch.inference_mode():
        for window in (8, 512):  # the blocked path, then the dense one
            exact = encoder(ids, pos, glob, keep_layer_inputs=1, window=window)
            stored = encoder(ids, pos, glob, keep_layer_inputs=1, window=window, store_dtype=torch.float16)
            assert stored.last_hidden.dtype == stored.layer_inputs[0].dtype == torch.float16
            for a, b in ((stored.layer_inputs[0], exact.layer_inputs[0]), (stored.last_hidden, exact.last_hidden)):
                assert F.cosine_similarity(a.float(), b, dim=-1).min().item() > 0.9999
            last = encoder.layers[-1]
            rows = torch.arange(0, ids.shape[1], 7)
            globals_t = glob[0].nonzero()[:, 0]
            got = row_attention(last.attention_of(stored.layer_inputs[0][0]), rows, globals_t, min(window, 64))
            want = row_attention(last.attention_of(stored.layer_inputs[0][0].float()), rows, globals_t, min(window, 64))
            assert torch.equal(got.keys, want.keys) and torch.allclose(got.probs, want.probs)


def test_padded_batch_matches_each_row_alone(model):
    rows = [encode_passages(model.tokenizer_file, [t])[:2] for t in TEXT]
    n = max(r[0].shape[1] for r in rows)
    ids = torch.zeros(3, n, dtype=torch.long)
    pos = torch.zeros(3, n, dtype=torch.long)
    mask = torch.zeros(3, n, dtype=torch.bool)
    for b, (i, p) in enumerate(rows):
        ids[b, : i.shape[1]], pos[b, : i.shape[1]], mask[b, : i.shape[1]] = i[0], p[0], True
    glob = torch.zeros(3, n, dtype=torch.bool)
    glob[:, 0] = True
    with torch.inference_mode():
        for window in (256, 6):  # dense dispatch, then the blocked path
            batch = model.encoder(ids, pos, glob, mask, window=window).last_hidden
            for b, (i, p) in enumerate(rows):
                alone = model.encoder(i, p, glob[b : b + 1, : i.shape[1]], window=window).last_hidden
                assert (batch[b, : i.shape[1]] - alone[0]).abs().max().item() < 1e-4


def test_bf16_stays_close_to_fp32(model):
    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT)
    glob = torch.zeros_like(ids, dtype=torch.bool)
    glob[0, markers] = True
    bf16 = Encoder(model.config)
    bf16.load_state_dict(model.encoder.state_dict())
    bf16 = bf16.to(torch.bfloat16).eval()
    with torch.inference_mode():
        a = model.encoder(ids, pos, glob).last_hidden
        b = bf16(ids, pos, glob).last_hidden.float()
    assert F.cosine_similarity(a, b, dim=-1).min().item() > 0.99


def test_limits_are_enforced():
    enc = Encoder(EncoderConfig(hidden=8, layers=1, heads=2, intermediate=16, vocab=10, max_positions=4,
                                window=2, global_budget=1)).eval()
    ids = torch.ones(1, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="restart positions"):
        enc(ids, torch.arange(6)[None], torch.zeros(1, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="exceed the budget of 1"):
        enc(ids, torch.arange(6)[None] % 4, torch.ones(1, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="unknown encoder config keys"):
        EncoderConfig.from_dict({"hidden": 8, "windw": 4})


def test_the_pass_keeps_each_global_querys_log_normalizer_and_rows_read_it(model):
    # A global row's probabilities need its softmax sum over every key; the encoder's pass found it, so the
    # rows recomputed with what the pass kept equal those that find it in a pass of their own.
    from brandscan.engine.model.rows import row_attention

    ids, pos, markers = encode_passages(model.tokenizer_file, TEXT * 5)
    glob = torch.zeros_like(ids, dtype=torch.bool)
    glob[0, markers[::4]] = True
    encoder = variant(model, query_chunk=256)
    globals_t = glob[0].nonzero()[:, 0]
    with torch.inference_mode():
        out = encoder(ids, pos, glob, keep_layer_inputs=2, window=8)
        assert len(out.global_log_normalizers) == 2
        for layer, x, normalizer in zip(encoder.layers[-2:], out.layer_inputs, out.global_log_normalizers):
            att = layer.attention
            h, dh = att.heads, x.shape[-1] // att.heads
            q = att.query(x[0, globals_t]).view(-1, h, dh) / math.sqrt(dh)  # (g, h, dh)
            k = att.key(x[0]).view(-1, h, dh)  # (n, h, dh)
            want = torch.logsumexp(torch.einsum("ghd,nhd->hgn", q, k), dim=-1)  # (h, g)
            assert torch.allclose(normalizer[0], want, atol=1e-4)
            rows = torch.cat([globals_t, torch.arange(0, ids.shape[1], 9)]).unique()
            alone = row_attention(layer.attention_of(x[0]), rows, globals_t, 8)
            kept = row_attention(layer.attention_of(x[0], normalizer[0]), rows, globals_t, 8)
            assert torch.equal(alone.keys, kept.keys)
            assert torch.allclose(alone.probs, kept.probs, atol=1e-5)
        dense = encoder(ids, pos, glob, keep_layer_inputs=1, window=1024)  # the window covers the input
        assert dense.global_log_normalizers == ()
