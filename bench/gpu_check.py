"""CUDA check of the encoder: sparse vs dense reference agreement, CPU vs CUDA outputs, tokens/s.

    python bench/gpu_check.py   # on a machine with a CUDA device; prints one JSON object a line
"""
from __future__ import annotations

import json
import time

import torch

from brandscan.engine.model.attention import dense_reference_attention, sparse_attention
from brandscan.engine.model.loader import load_model


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # compare in true float32
    torch.backends.cudnn.allow_tf32 = False
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for n, w, h in [(300, 32, 4), (1000, 64, 12), (77, 8, 2)]:
        q, k, v = (torch.randn(2, h, n, 32, generator=gen) for _ in range(3))
        glob = torch.rand(2, n, generator=gen) < 0.03
        pad = torch.ones(2, n, dtype=torch.bool)
        pad[1, n - 20 :] = False
        ref, _ = dense_reference_attention(q, k, v, glob, w, pad)  # CPU float32
        out, _ = sparse_attention(q.to(dev), k.to(dev), v.to(dev), glob.to(dev), w, pad.to(dev), query_chunk=256)
        worst = max(worst, (out.cpu() - ref).abs().max().item())
    print(json.dumps({"check": "sparse_vs_dense_reference_cuda_fp32", "max_abs_diff": worst}), flush=True)

    cpu = load_model(dtype="float32", threads=4)
    gpu = load_model(dtype="float32", device="cuda")
    n = 3000
    ids = torch.randint(1000, 30000, (1, n), generator=gen)
    pos = (torch.arange(n) % 128)[None]
    glob = torch.zeros(1, n, dtype=torch.bool)
    glob[0, ::128] = True
    with torch.inference_mode():
        a = cpu.encoder(ids, pos, glob).last_hidden
        b = gpu.encoder(ids.to(dev), pos.to(dev), glob.to(dev)).last_hidden.cpu()
    print(json.dumps({"check": "encoder_cpu_vs_cuda_fp32_3k", "max_abs_diff": (a - b).abs().max().item()}), flush=True)

    for dtype in ("float32", "bfloat16"):
        model = load_model(dtype=dtype, device="cuda")
        for n in (16384, 262144):
            ids = torch.randint(1000, 30000, (1, n), device=dev)
            pos = (torch.arange(n, device=dev) % 128)[None]
            glob = torch.zeros(1, n, dtype=torch.bool, device=dev)
            glob[0, torch.linspace(0, n - 1, 512, device=dev).long()] = True
            with torch.inference_mode():
                model.encoder(ids[:, :4096], pos[:, :4096], glob[:, :4096])
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                out = model.encoder(ids, pos, glob).last_hidden
                torch.cuda.synchronize()
                seconds = time.perf_counter() - start
            print(json.dumps({"check": "throughput_cuda", "dtype": dtype, "n": n, "tokens_per_s": round(n / seconds),
                              "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
                              "finite": bool(torch.isfinite(out).all())}), flush=True)


if __name__ == "__main__":
    main()
