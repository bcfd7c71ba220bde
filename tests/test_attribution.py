import math

import numpy as np
import torch

from brandscan.engine.model import registry
from brandscan.engine.model.rows import LayerAttention, row_attention
from brandscan.engine.stages.linking.attribution import rollout
from brandscan.engine.stages.linking.evidence import evidence_spans
from brandscan.engine.text.passages import load_tokenizer, tokenize_document


def dense_rows(x, wq, wk, heads, rows, globals_, window):
    """Reference: full n x n masked softmax (test sizes only)."""
    n, d = x.shape
    dh = d // heads
    q = (x @ wq.T).view(n, heads, dh).transpose(0, 1)  # (h, n, dh)
    k = (x @ wk.T).view(n, heads, dh).transpose(0, 1)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)  # (h, n, n)
    i = torch.arange(n)
    is_g = torch.zeros(n, dtype=torch.bool)
    is_g[globals_] = True
    allowed = ((i[:, None] - i[None, :]).abs() <= window // 2) & ~is_g[None, :] | is_g[None, :] | is_g[:, None]
    return torch.softmax(s.masked_fill(~allowed, -math.inf), dim=-1)[:, rows]  # (h, r, n)


def random_layer(seed, n, d=16, heads=4):
    """A layer of random inputs and projections, and a dense reference of its rows."""
    torch.manual_seed(seed)
    x = torch.randn(n, d)
    wq, wk = torch.randn(d, d) / 4, torch.randn(d, d) / 4
    layer = LayerAttention(x, lambda t: t @ wq.T, lambda t: t @ wk.T, heads)
    return layer, lambda rows, globals_, window: dense_rows(x, wq, wk, heads, rows, globals_, window)


def test_row_attention_equals_dense_masked_reference():
    window = 10
    layer, reference = random_layer(0, 90)
    globals_ = torch.tensor([0, 40, 77])
    rows = torch.tensor([3, 40, 41, 89])  # 40 is a global row: it sees every key
    att = row_attention(layer, rows, globals_, window)
    ref = reference(att.rows, globals_, window)
    dense = torch.zeros_like(ref)
    for r in range(len(att.rows)):
        for j, key in enumerate(att.keys[r].tolist()):
            if key >= 0:
                dense[:, r, key] += att.probs[:, r, j]
    local = [r for r, row in enumerate(att.rows.tolist()) if row != 40]
    torch.testing.assert_close(dense[:, local], ref[:, local], atol=1e-5, rtol=1e-4)
    # a global row is exact on the keys it keeps (its strongest w + 1 + g of all n)
    g = att.rows.tolist().index(40)
    kept = att.keys[g][att.keys[g] >= 0]
    assert len(kept) == window + 1 + len(globals_)
    torch.testing.assert_close(dense[:, g, kept], ref[:, g, kept], atol=1e-5, rtol=1e-4)
    # rollout rows are distributions too
    for _row, dist in rollout([layer, layer], rows, globals_, window).items():
        assert abs(sum(dist.values()) - 1.0) < 1e-4


def test_global_rows_are_differentiable():
    # `train linking` takes gradients through the rows (a global row's probabilities were once computed
    # in place, which autograd refuses at backward)
    layer, _ = random_layer(1, 60)
    layer.inputs.requires_grad_(True)
    att = row_attention(layer, torch.tensor([5, 30]), torch.tensor([0, 30]), 8)  # 30: a global row
    (att.probs * torch.rand(att.probs.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    assert layer.inputs.grad is not None and torch.isfinite(layer.inputs.grad).all()
    assert layer.inputs.grad.abs().sum() > 0


def test_evidence_spans_are_words_of_the_text_and_normalized():
    text = "Norvik shipped the Trailblazer jacket quickly.\n\nIt was warm."
    tokenizer = load_tokenizer(registry.resolve(None) / "tokenizer.json")
    tokens = tokenize_document(text, tokenizer)
    rng = np.random.default_rng(0)
    weights = {p: float(rng.random()) for p in range(tokens.n_tokens)}
    it = text.index("It")
    spans = evidence_spans(tokens, weights, (it, it + 2), top=4)
    assert 0 < len(spans) <= 4
    assert abs(sum(s.weight for s in spans) - 1.0) < 1e-6
    for s in spans:
        assert text[s.start:s.end] == s.text and s.text.lower() not in {"the", "it", "."}
        assert s.text in {"Norvik", "shipped", "Trailblazer", "jacket", "quickly", "was", "warm"}


def test_evidence_words_are_whole_words_and_skip_stopwords_and_punctuation():
    from brandscan.engine.stages.linking.evidence import EvidenceWords
    from brandscan.engine.text.words import STOPWORDS

    text = "The café's e-mail: snake_case C3PO sold 2.7m units — it's Ünïcode, and THE end. 🙂 Trailblazer!"
    tokens = tokenize_document(text, load_tokenizer(registry.resolve(None) / "tokenizer.json"))
    words = EvidenceWords.of(tokens)
    for p in range(tokens.n_tokens):
        a, b = (int(x) for x in tokens.offsets[p])
        expected = None
        if not tokens.is_special[p] and b > a:
            # the piece grown over letters and digits at either end, as a reader would take the word
            while a > 0 and text[a - 1].isalnum() and text[a].isalnum():
                a -= 1
            while b < len(text) and text[b].isalnum() and text[b - 1].isalnum():
                b += 1
            word = text[a:b]
            if any(c.isalnum() or c == "_" for c in word) and word.lower() not in STOPWORDS:
                expected = (a, b)
        got = None if words.start[p] == EvidenceWords.NO_WORD else (int(words.start[p]), int(words.end[p]))
        assert got == expected, (p, text[tokens.offsets[p, 0]:tokens.offsets[p, 1]], got, expected)
    found = {text[s:e] for s, e in zip(words.start, words.end) if s != EvidenceWords.NO_WORD}
    assert {"café", "Trailblazer", "C3PO", "Ünïcode", "snake", "case"} <= found
    assert not found & {"The", "THE", "and", ":", "—"}


def test_a_word_weighs_all_its_pieces_however_many_keys_are_lighter():
    # "Trailblazer" is three word pieces; its last one is lighter than 70 other words, yet it counts.
    filler = " ".join(f"word{i}" for i in range(70))
    text = f"Norvik makes the Trailblazer and sturdy boots. {filler}"
    tokenizer = load_tokenizer(registry.resolve(None) / "tokenizer.json")
    tokens = tokenize_document(text, tokenizer)
    trail = text.index("Trailblazer")
    pieces = [p for p in range(tokens.n_tokens) if trail <= tokens.offsets[p, 0] < trail + len("Trailblazer")]
    assert len(pieces) >= 2
    sturdy = int(np.flatnonzero(tokens.offsets[:, 0] == text.index("sturdy"))[0])
    weights = {p: 0.006 for p in range(tokens.n_tokens)}
    weights.update({pieces[0]: 0.011, sturdy: 0.012})
    weights.update({p: 0.005 for p in pieces[1:]})
    [span] = evidence_spans(tokens, weights, (0, 6), top=1)
    assert span.text == "Trailblazer"


def test_global_rows_over_several_key_blocks_keep_the_strongest_keys_exactly(monkeypatch):
    from brandscan.engine.model import rows as rows_module

    monkeypatch.setattr(rows_module, "KEY_BLOCK", 16)  # 90 keys: six blocks, the last one short
    monkeypatch.setattr(rows_module, "ROW_CHUNK", 2)  # two chunks of global rows read each block's keys
    window = 10
    layer, reference = random_layer(1, 90)
    globals_ = torch.tensor([0, 40, 77])
    rows = torch.tensor([0, 40, 77])
    att = row_attention(layer, rows, globals_, window)
    ref = reference(att.rows, globals_, window)  # (h, r, n)
    width = window + 1 + len(globals_)
    for r in range(len(att.rows)):
        kept = att.keys[r][att.keys[r] >= 0]
        assert kept.tolist() == sorted(kept.tolist()) and len(kept) == width
        assert set(kept.tolist()) == set(torch.topk(ref[:, r].mean(0), width).indices.tolist())
        torch.testing.assert_close(att.probs[:, r, :width], ref[:, r, kept], atol=1e-5, rtol=1e-4)


def test_linking_reductions_equal_the_whole_rows():
    from brandscan.engine.model.rows import LocalKeys, attention_chunks
    from brandscan.engine.stages.linking.evidence import mass_rows, mean_rows
    from brandscan.engine.stages.linking.features import entity_slots, row_mass
    from brandscan.engine.stages.linking.head import EntitySpec

    n, window = 300, 10
    layer, _ = random_layer(2, n)
    globals_ = torch.tensor([5, 120, 250])
    rows = torch.tensor([1, 2, 3, 60, 120, 121, 200, 299])
    whole = row_attention(layer, rows, globals_, window)
    entity_of = entity_slots(n, [EntitySpec(((5, 6), (250, 251))), EntitySpec(((120, 121),))])
    streamed = mass_rows(attention_chunks(layer, rows, globals_, window), entity_of)
    expected = row_mass(whole, entity_of)
    assert streamed.rows.tolist() == expected.rows.tolist()
    torch.testing.assert_close(streamed.mass, expected.mass)
    assert expected.mass.shape == (len(rows), 2) and float(expected.mass.min()) >= 0.0
    kept = mean_rows(attention_chunks(layer, rows, globals_, window), len(rows), LocalKeys.of(n, window, globals_.numpy()))
    mean = whole.probs.mean(0)
    for r, position in enumerate(whole.rows.tolist()):
        keys, weights = kept[position]
        valid = whole.keys[r] >= 0
        assert keys.dtype == np.int64 and weights.dtype == np.float64
        assert keys.tolist() == whole.keys[r][valid].tolist()
        np.testing.assert_allclose(weights, mean[r][valid].numpy(), rtol=1e-3, atol=1e-7)  # kept as float16
    assert 7 not in kept and len(kept) == len(rows)
