"""Encoder throughput and peak memory at long lengths, against peers measured in the same run.

    .venv/bin/python bench/encoder.py                       # 4k,16k,64k,256k,1m; all peers that fit
    .venv/bin/python bench/encoder.py --sizes 4k,16k --dtypes fp32,bf16 --threads 2
    .venv/bin/python bench/encoder.py --sizes 16k --impls longformer,brandscan --dtypes fp32,int8 --threads 2
    .venv/bin/python bench/encoder.py --sizes 4k,16k --impls brandscan,brandscan-compiled --threads 2

Every (implementation, size, dtype) runs in its own subprocess, so the peak RSS printed is that
run's own. Peers: Hugging Face transformers' LongformerModel (random init, same size: hidden 384,
6 layers, 12 heads, FFN 1536, window 256, 1% global tokens) and a dense SDPA encoder (brandscan's
layers with a window covering the input). transformers is needed for the Longformer peer only
(`.venv/bin/pip install transformers`); it is not a brandscan dependency. The FLOP-rate column is
the encoder's useful work (about 24 MFLOP per token) over the matrix-product peak of this machine in
that dtype, measured at the start of the run (int8 rows: over the float32 peak, the rate a float32
encoder would need to match them). int8 is brandscan's `--dtype int8` (engine/model/int8.py); its
peers run in float32.

brandscan-compiled is brandscan's encoder with each layer's per-chunk body (projections, window +
global attention, merge, feed-forward, LayerNorms) run under torch.compile (inductor, dynamic
shapes); `--compile-scope finish` compiles only what follows the attention product. Its row adds
the compile seconds (first call on the warm-up input minus a second call), the number of graphs
compiled and the largest absolute difference from the eager encoder's output on the same input.
The on-disk inductor cache is used as a second process would find it; `--cold-compile` starts from
an empty one. Because other jobs share the cores, the compiled process also times eager and compiled
passes alternately (`--pairs`) and prints the median ratio of their CPU seconds (eager / compiled).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HIDDEN, LAYERS, HEADS, FFN, VOCAB, WINDOW = 384, 6, 12, 1536, 30522, 256
PEER_LIMIT = {"longformer": 16_384, "dense": 16_384}  # above this they run out of memory or time here
GLOBAL_FRACTION = 0.01
PASSAGE = 128  # tokens per passage in the synthetic document: positions restart, markers are global
COMPILE_SCOPES = ("chunk", "finish")  # Layer methods that brandscan-compiled can route through torch.compile


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def flops_per_token(n: int, g: int, dense: bool) -> float:
    """Useful multiply-adds x 2 of one token through the encoder (no padding or blocking waste)."""
    linear = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)
    keys = n if dense else min(n, WINDOW + 1) + g + g  # window + its global keys + its share of global queries
    return LAYERS * (linear + 4 * HIDDEN * keys)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def matmul_peak(dtype_name: str) -> float:
    import torch

    dtype = {"fp32": torch.float32, "int8": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(4096, HIDDEN, dtype=dtype), torch.randn(HIDDEN, FFN, dtype=dtype)
    a @ b
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < 1.0:
        a @ b
        reps += 1
    return reps * 2 * 4096 * HIDDEN * FFN / (time.perf_counter() - start)


def document(n: int, every: int = round(1 / GLOBAL_FRACTION)):
    """Token ids, positions restarting every PASSAGE tokens, and a marker every `every` tokens (1% by
    default), thinned to the default global budget."""
    import torch

    from brandscan.engine.stages.globals import DEFAULT_GLOBAL_BUDGET, select_global_tokens

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, VOCAB, (1, n), generator=gen)
    pos = (torch.arange(n) % PASSAGE)[None]
    markers = list(range(0, n, max(1, every)))
    glob = torch.zeros(1, n, dtype=torch.bool)
    glob[0, torch.from_numpy(select_global_tokens(n, markers, [], DEFAULT_GLOBAL_BUDGET))] = True
    return ids, pos, glob, markers


def compile_layers(encoder, scope: str) -> list:
    """Every layer's `scope` method under torch.compile (inductor, dynamic shapes), one per layer.

    Tensor arguments get fresh contiguous strides first: a (1, C, d) chunk sliced from a (1, n, d)
    tensor keeps the batch stride n*d, and the guards on it would compile a new graph for the first,
    middle and last chunks.
    """
    import torch

    def dense(a):
        return a.clone(memory_format=torch.contiguous_format) if isinstance(a, torch.Tensor) else a

    compiled = [torch.compile(getattr(layer, scope), dynamic=True) for layer in encoder.layers]
    return [lambda *args, fn=fn: fn(*(dense(a) for a in args)) for fn in compiled]


def use_layers(encoder, scope: str, fns: list | None) -> None:
    """Each layer's `scope` method replaced by fns[i], or back to the eager method when fns is None."""
    for i, layer in enumerate(encoder.layers):
        if fns is not None:
            setattr(layer, scope, fns[i])
        elif scope in vars(layer):
            delattr(layer, scope)


def child(impl: str, n: int, dtype_name: str, threads: int, scope: str, pairs: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "int8": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    ids, pos, glob, markers = document(n)
    if impl == "longformer":
        from transformers import LongformerConfig, LongformerModel

        config = LongformerConfig(
            hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
            vocab_size=VOCAB, attention_window=WINDOW, max_position_embeddings=n + 2 + WINDOW,
        )
        model = LongformerModel(config).to(dtype).eval()
        global_mask = torch.zeros(1, n, dtype=torch.long)
        global_mask[0, markers] = 1

        def run() -> None:
            model(input_ids=ids, attention_mask=torch.ones_like(ids), global_attention_mask=global_mask)
        g = len(markers)
    else:
        from brandscan.engine.model.loader import load_model

        model = load_model(dtype={"fp32": "float32", "int8": "int8", "bf16": "bfloat16"}[dtype_name], threads=threads)
        encoder = model.for_inference(model.encoder)
        window = 2 * n if impl == "dense" else None  # a window covering the input: the dense path
        if impl == "brandscan-compiled":
            compiled = compile_layers(encoder, scope)
            use_layers(encoder, scope, compiled)
        g = int(glob.sum())

        def run() -> None:
            encoder(ids, pos, glob, window=window)
    extra = {}
    with torch.inference_mode():
        warm = min(n, 2048)
        if impl == "longformer":
            model(input_ids=ids[:, :warm], attention_mask=torch.ones_like(ids[:, :warm]))
        else:
            firsts = []
            for _ in range(2 if impl == "brandscan-compiled" else 1):
                start = time.perf_counter()
                encoder(ids[:, :warm], pos[:, :warm], glob[:, :warm])
                firsts.append(time.perf_counter() - start)
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        if impl == "brandscan-compiled":
            from torch._dynamo.utils import counters

            # eager and compiled alternately on the same input: each pair sees about the same load
            diff, ratios = 0.0, []
            for _ in range(pairs):
                cpu, outs = [], []
                for fns in (None, compiled):
                    use_layers(encoder, scope, fns)
                    cpu_start = time.process_time()
                    outs.append(encoder(ids, pos, glob).last_hidden)
                    cpu.append(time.process_time() - cpu_start)
                diff = max(diff, (outs[1] - outs[0]).abs().max().item())
                ratios.append(cpu[0] / cpu[1])
            extra = {"compile_s": firsts[0] - firsts[1], "graphs": counters["stats"]["unique_graphs"],
                     "max_abs_diff": diff, "paired_cpu_ratios": ratios}
    return {"impl": impl, "n": n, "dtype": dtype_name, "seconds": seconds, "tokens_per_s": n / seconds,
            "tokens_per_cpu_s": n / cpu_seconds,
            "peak_rss_gb": peak_rss_gb(), "globals": g,
            "flops_per_token": flops_per_token(n, 0 if impl == "dense" else g, impl == "dense"), **extra}


def run_child(
    impl: str, n: int, dtype: str, threads: int, timeout: float, scope: str, cold: bool, pairs: int
) -> dict | None:
    cmd = [sys.executable, __file__, "--child", impl, str(n), dtype, "--threads", str(threads),
           "--compile-scope", scope, "--pairs", str(pairs)]
    try:
        with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache} if cold else None
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "n": n, "dtype": dtype, "error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["killed"])[-1]
        return {"impl": impl, "n": n, "dtype": dtype, "error": tail[:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4k,16k,64k,256k,1m")
    parser.add_argument("--impls", default="longformer,brandscan,dense",
                        help="comma-separated: longformer, brandscan, brandscan-compiled, dense")
    parser.add_argument("--dtypes", default="fp32", help="comma-separated: fp32, bf16, int8 (brandscan only)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--compile-scope", default="chunk", choices=COMPILE_SCOPES,
                        help="what brandscan-compiled compiles: each layer's whole chunk body, or only what follows "
                             "the attention product (output projection, feed-forward, LayerNorms)")
    parser.add_argument("--cold-compile", action="store_true",
                        help="brandscan-compiled starts from an empty inductor cache (a machine's first run)")
    parser.add_argument("--pairs", type=int, default=3,
                        help="brandscan-compiled: eager/compiled pairs timed in its process for the paired CPU-time ratio")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "N", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs {args.pairs}: expected 1 or more")
    if args.child:
        impl, n, dtype = args.child
        print(json.dumps(child(impl, int(n), dtype, args.threads, args.compile_scope, args.pairs)))
        return

    import torch

    torch.set_num_threads(args.threads)
    dtypes = args.dtypes.split(",")
    peaks = {d: matmul_peak(d) for d in dtypes}
    print(f"threads {args.threads}; matrix-product peak here: "
          + ", ".join(f"{d} {p / 1e9:.0f} GFLOP/s" for d, p in peaks.items()), flush=True)
    print(f"{'n':>8} {'impl':<18} {'dtype':<5} {'tokens/s':>9} {'tok/cpu-s':>9} {'seconds':>8} {'peak RSS':>9} "
          f"{'globals':>7} {'FLOP share':>10} {'vs longformer':>13}  compiled", flush=True)
    results = []
    for n in [parse_size(s) for s in args.sizes.split(",")]:
        baseline = {}
        for dtype in dtypes:
            for impl in args.impls.split(","):
                if n > PEER_LIMIT.get(impl, n) or (dtype == "int8" and impl != "brandscan"):
                    continue  # the peers have no int8 path here: they run in fp32
                r = run_child(impl, n, dtype, args.threads, args.timeout, args.compile_scope, args.cold_compile,
                              args.pairs)
                results.append(r)
                if "error" in r:
                    print(f"{n:>8} {impl:<18} {dtype:<5} {r['error']}", flush=True)
                    continue
                if impl == "longformer":
                    baseline[dtype] = r
                ref = baseline.get("fp32") or baseline.get(dtype)
                # wall-clock ratio, and CPU-time ratio (fairer when other jobs share the cores)
                ratio = (f"{r['tokens_per_s'] / ref['tokens_per_s']:.1f}x/{r['tokens_per_cpu_s'] / ref['tokens_per_cpu_s']:.1f}x"
                         if ref and impl != "longformer" else "")
                share = r["tokens_per_s"] * r["flops_per_token"] / peaks[dtype]
                compiled = ""
                if "compile_s" in r:
                    ratios = sorted(r["paired_cpu_ratios"])
                    compiled = (f"compile {r['compile_s']:.1f} s, {r['graphs']} graph(s), max abs diff "
                                f"{r['max_abs_diff']:.1e}, paired CPU-time gain {ratios[len(ratios) // 2]:.2f}x "
                                f"(median of {len(ratios)}, {ratios[0]:.2f}-{ratios[-1]:.2f})")
                print(f"{n:>8} {impl:<18} {dtype:<5} {r['tokens_per_s']:>9.0f} {r['tokens_per_cpu_s']:>9.0f} {r['seconds']:>8.1f} "
                      f"{r['peak_rss_gb']:>7.2f}GB {r['globals']:>7} {share:>9.0%} {ratio:>13}  {compiled}", flush=True)
    ours = {(r["n"], r["dtype"]): r["seconds"] for r in results if r.get("impl") == "brandscan" and "error" not in r}
    for dtype in dtypes:
        if (16384, dtype) in ours and (262144, dtype) in ours:
            print(f"scaling {dtype}: time(256k) / time(16k) = {ours[(262144, dtype)] / ours[(16384, dtype)]:.1f} (16x is linear)")


if __name__ == "__main__":
    main()
