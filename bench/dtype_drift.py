"""bf16 against float32 on real text: speed and drift of the final hidden states.

    .venv/bin/python bench/dtype_drift.py [--tokens 2048] [--threads 2] [--data DIR_OF_CONLLU]

Reads GUM documents (CoNLL-U `# text =` lines, ../shared/data/gum/conllu/dev by default), lays them
out as the analyze pipeline does (passages of sentences, each [CLS] ... [SEP], positions restarting,
markers global), runs the default model in float32 and bfloat16 and prints tokens/s of each and the
cosine similarity of every token's final hidden state (mean, 1st percentile, min).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from brandscan.engine.model.loader import load_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gum" / "conllu" / "dev"


def passages(data: Path, tokenizer: Tokenizer, budget: int, passage_len: int = 256):
    """Token ids and positions of GUM sentences packed into passages of at most passage_len tokens."""
    ids: list[int] = []
    pos: list[int] = []
    markers: list[int] = []
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    current: list[int] = []

    def flush() -> None:
        if current:
            markers.append(len(ids))
            body = [cls, *current[: passage_len - 2], sep]
            ids.extend(body)
            pos.extend(range(len(body)))
            current.clear()

    for path in sorted(data.glob("*.conllu")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("# text = "):
                continue
            sentence = tokenizer.encode(line[len("# text = "):], add_special_tokens=False).ids
            if len(current) + len(sentence) > passage_len - 2:
                flush()
            current.extend(sentence)
            if len(ids) >= budget:
                return ids[:budget], pos[:budget], [m for m in markers if m < budget]
    flush()
    return ids[:budget], pos[:budget], [m for m in markers if m < budget]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    fp32 = load_model(dtype="float32", threads=args.threads, device=args.device)
    bf16 = load_model(dtype="bfloat16", threads=args.threads, device=args.device)
    tokenizer = Tokenizer.from_file(str(fp32.tokenizer_file))
    ids, pos, markers = passages(args.data, tokenizer, args.tokens)
    n = len(ids)
    ids_t, pos_t = torch.tensor([ids], device=args.device), torch.tensor([pos], device=args.device)
    glob = torch.zeros(1, n, dtype=torch.bool, device=args.device)
    glob[0, markers] = True
    result = {"tokens": n, "passages": len(markers), "device": args.device, "threads": torch.get_num_threads()}
    states = {}
    with torch.inference_mode():
        for name, model in (("fp32", fp32), ("bf16", bf16)):
            model.encoder(ids_t[:, :256], pos_t[:, :256], glob[:, :256])  # warm-up
            start = time.perf_counter()
            states[name] = model.encoder(ids_t, pos_t, glob).last_hidden.float()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            result[f"{name}_tokens_per_s"] = round(n / (time.perf_counter() - start), 1)
    cos = F.cosine_similarity(states["fp32"], states["bf16"], dim=-1).flatten().cpu()
    result.update(cosine_mean=round(cos.mean().item(), 5), cosine_p01=round(cos.quantile(0.01).item(), 5),
                  cosine_min=round(cos.min().item(), 5))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
