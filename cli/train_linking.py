"""`brandscan train linking`: LoRA adapters + ranking head on GAP, LitBank, CC-BY GUM genres and the brand corpus."""
from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(group: typer.Typer) -> None:
    group.command("linking", no_args_is_help=True)(linking)


def linking(
    gap: Path | None = typer.Option(None, "--gap", help="GAP folder (gap-development.tsv trains, gap-validation.tsv scores)."),
    out: Path = typer.Option(..., "--out", help="Directory for adapter, head and TRAINING_CARD.md."),
    litbank: Path | None = typer.Option(None, "--litbank", help="LitBank folder (brat_tsv/train trains, dev scores)."),
    gum: Path | None = typer.Option(None, "--gum", help="GUM folder: CC-BY genres of train train, all of dev scores."),
    seed: int = typer.Option(0, "--seed", help="Seed for initialization, dropout and order."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda."),
    epochs: int = typer.Option(3, "--epochs"),
    rank: int = typer.Option(8, "--rank", help="LoRA rank (alpha = 2 x rank)."),
    lr: float = typer.Option(5e-4, "--lr", help="Adapter learning rate (head: 2x)."),
    distant_share: float = typer.Option(
        0.3, "--distant-share",
        help="Share of GAP rows replaced, each epoch, by a variant with 4-20 GUM filler paragraphs before the "
             "pronoun's sentence (needs --gum; 0 turns it off)."),
    brands: list[Path] = typer.Option(
        [], "--brands", help="Annotated brand corpus folder (catalog.yaml + *.md), e.g. corpus/brands/train; "
                             "repeatable. A folder named dev is refused: dev never trains anything."),
    augment_renamed: float = typer.Option(0.3, "--augment-renamed",
                                          help="Share of brand documents shown, each epoch, with invented names."),
    augment_distance: float = typer.Option(
        0.2, "--augment-distance", help="Share shown with 2-8 brand-free paragraphs inserted at paragraph breaks."),
    augment_minimal: float = typer.Option(0.2, "--augment-minimal",
                                          help="Share shown with the minimal catalogue (names, aliases, products)."),
    max_documents: int | None = typer.Option(None, "--max-documents", min=1,
                                             help="Train on at most this many documents per source (smoke runs)."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
    init_adapter: Path | None = typer.Option(
        None, "--init-adapter",
        help="Adapter directory (adapter.json + adapter.safetensors, e.g. the model's heads/linking) to start the "
             "LoRA adapters from instead of zero: fine-tuning it on new data. Its rank, alpha and targets must "
             "match --rank."),
) -> None:
    """Train the linking model reproducibly and write its figures on the dev sets beside it."""
    import json
    import sys
    import time

    import torch

    from brandscan.engine.errors import BrandscanError
    from brandscan.engine.model.adapters import add_lora, save_adapter, start_from_adapter
    from brandscan.engine.model.loader import load_model
    from brandscan.engine.model.merged import write_merged
    from brandscan.engine.stages.linking.decide import HEAD_FILE
    from brandscan.engine.stages.linking.head import save_head
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.datasets.coref import coref_to_link
    from brandscan.evaluation.datasets.gap import gap_to_link, read_gap
    from brandscan.evaluation.datasets.gum import CC_BY_GENRES, read_gum
    from brandscan.evaluation.datasets.litbank import read_litbank
    from brandscan.evaluation.linking_items import prepare
    from brandscan.evaluation.linking_runs import evaluate_coref, evaluate_gap, prepare_all
    from brandscan.training.brand_training import brand_training
    from brandscan.training.linking_distant import distant_variant, filler_paragraphs
    from brandscan.training.linking_train import TrainConfig, train

    if gap is None and litbank is None and gum is None and not brands:
        raise BrandscanError("train linking: no training data: give --gap, --litbank, --gum or --brands")
    cap = slice(None, max_documents)
    brand_data = brand_training(brands, augment_renamed, augment_distance, augment_minimal, seed, cap)
    torch.manual_seed(seed)
    loaded = load_model(model, dtype="float32", device=device)
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    encoder = loaded.encoder.to(device)
    for p in encoder.parameters():
        p.requires_grad_(False)
    config = TrainConfig(seed=seed, epochs=epochs, rank=rank, alpha=2.0 * rank, lr_adapter=lr, lr_head=2 * lr,
                         window=loaded.config.window, global_budget=loaded.config.global_budget,
                         distant_share=distant_share)
    params = add_lora(encoder, config.rank, config.alpha, config.targets)
    if init_adapter is not None:
        start_from_adapter(encoder, init_adapter)

    docs = [gap_to_link(r) for r in read_gap(gap / "gap-development.tsv")[cap]] if gap is not None else []
    sources: dict[str, int] = {"gap-development": len(docs)} if gap is not None else {}
    gum_train = read_gum(gum, "train", CC_BY_GENRES)[cap] if gum is not None else ()
    if litbank is not None:
        lit = [coref_to_link(d, "litbank") for d in read_litbank(litbank, "train")[cap]]
        docs += lit
        sources["litbank-train"] = len(lit)
    if gum is not None:
        g = [coref_to_link(d, "gum") for d in gum_train]
        docs += g
        sources["gum-train (" + ",".join(CC_BY_GENRES) + ")"] = len(g)
    items = prepare_all(docs, tokenizer, config.global_budget)
    epoch_forms = brand_data.attach(items, tokenizer, config.global_budget, sources) if brands else None
    variants = {}
    if distant_share > 0 and gum_train:
        import random

        filler = filler_paragraphs(gum_train)
        rng = random.Random(seed)
        for i, item in enumerate(items):
            if item.doc.source != "gap":
                continue
            variant = distant_variant(item.doc, filler, rng)
            prepared = prepare(variant, tokenizer, config.global_budget) if variant is not None else None
            if prepared is not None:
                variants[i] = prepared
        sources["gap-development distant variants (GUM CC-BY filler)"] = len(variants)
    print(f"training on {len(items)} documents: {sources}", file=sys.stderr)
    started = time.perf_counter()
    head = train(encoder, params, items, config, device, log=lambda line: print(line, file=sys.stderr, flush=True),
                 variants=variants, epoch_forms=epoch_forms)
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    command = "brandscan train linking " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    meta = {"seed": str(seed), "sources": json.dumps(sources), "command": command}
    # Weights first: the dev figures below take minutes and are written by eval commands too.
    save_adapter(encoder, out, meta)
    save_head(head, out / HEAD_FILE, meta)
    # The adapter merged into the base as a run loads it, so that analysis merges nothing (model/merged.py).
    write_merged(model, out)

    w, b = config.window, config.global_budget
    figures: dict[str, object] = {}

    def write() -> None:  # after every figure, so a run cut short keeps what it measured
        (out / "figures.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        (out / "TRAINING_CARD.md").write_text(
            _card(sources, config, command, figures, seconds, device, brand_data.card_lines()))

    write()
    if gap is not None:
        gap_s = evaluate_gap(encoder, head, read_gap(gap / "gap-validation.tsv"), tokenizer, w, b, device)
        figures["gap_validation"] = {"masculine": gap_s.masculine, "feminine": gap_s.feminine,
                                     "overall": gap_s.overall, "bias": gap_s.bias}
        print(f"gap_validation: {figures['gap_validation']}", file=sys.stderr, flush=True)
        write()
    dev_sets = []
    if litbank is not None:
        dev_sets.append(("litbank_dev", read_litbank(litbank, "dev"), "litbank"))
    if gum is not None:
        dev_sets.append(("gum_dev", read_gum(gum, "dev"), "gum"))
    for name, dev_docs, source in dev_sets:
        s = evaluate_coref(encoder, head, dev_docs, source, tokenizer, w, b, device)
        figures[name] = {"accuracy": s.overall.value, "n": s.overall.total,
                         "by_bucket": {k: [v.value, v.total] for k, v in s.by_bucket.items()},
                         "by_kind": {k: [v.value, v.total] for k, v in s.by_kind.items()},
                         "unnamed_rejected": [s.unnamed_rejected.value, s.unnamed_rejected.total]}
        print(f"{name}: {figures[name]}", file=sys.stderr, flush=True)
        write()
    print(json.dumps(figures, sort_keys=True))


def _card(sources: dict, config, command: str, figures: dict, seconds: float, device: str,  # type: ignore[no-untyped-def]
          brand_lines: list[str]) -> str:
    import json

    data = []
    if any(k.startswith("gap") for k in sources):
        data.append("- GAP development (Apache-2.0), validation held out for the figures below.")
    if any(k.startswith("litbank") for k in sources):
        data.append("- LitBank fold-0 train (CC-BY 4.0), dev held out.")
    if any(k.startswith("gum") for k in sources):
        data.append("- GUM train, genres academic, court, interview, news only (text CC-BY); dev (all genres) held out.")
    if any(k.startswith("gap-development distant") for k in sources):
        data += ["- Distant variants of GAP development rows: 4-20 paragraphs of GUM CC-BY train text without personal",
                 "  pronouns inserted before the pronoun's sentence (training/linking_distant.py); each epoch",
                 f"  {config.distant_share:.0%} of the rows that have one are shown in that form instead."]
    lines = [
        "# Linking adapter and head: training card", "",
        "Mention-ranking head over LoRA-adapted all-MiniLM-L6-v2 states (see docs/linking.md).", "",
        "## Data (all openly licensed for this use)", *data, *brand_lines,
        f"- Documents per source: {json.dumps(sources)}", "",
        "## Setting",
        f"- seed {config.seed}, epochs {config.epochs}, LoRA rank {config.rank} alpha {config.alpha} on "
        f"{', '.join(config.targets)}, lr adapter {config.lr_adapter} head {config.lr_head}, window {config.window}",
        f"- device {device}, {seconds:.0f} s", f"- command: `{command}`", "",
        "## Development figures (held-out dev sets; test splits are not available here)",
        *(["GAP validation also chose this setting among the runs tried, so it is a development figure, not a test."]
          if "gap_validation" in figures else []),
        "```json", json.dumps(figures, indent=2, sort_keys=True), "```", "",
    ]
    return "\n".join(lines)
