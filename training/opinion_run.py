"""`brandscan train opinions`: encode the training documents with the shipped document encoder,
train the opinion head, and write it with its figures and training card."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from brandscan.engine.stages.sentiment.opinion_head import save_opinion_head
from brandscan.evaluation.brand_marks import read_brand_docs
from brandscan.evaluation.brand_runs import brand_catalog
from brandscan.training.brand_training import refuse_dev
from brandscan.training.opinion_train import (
    OpinionTrainConfig,
    OpinionTrainResult,
    seed_everything,
    train_opinions,
)

CARD_FILE = "OPINION_TRAINING_CARD.md"
FIGURES_FILE = "opinion_figures.json"


def run_training(brands: Path, out: Path, config: OpinionTrainConfig, *, mams: Path | None = None,
                 model: str | None = None, command: str = "", log: Callable[[str], None] = print) -> OpinionTrainResult:
    """Train on the annotated documents of `brands` (never a dev folder), and on MAMS ATSA train for
    the polarity part when `mams` is given; save to `out`."""
    from brandscan.engine.model.loader import load_model
    from brandscan.engine.stages.load import load_stages
    from brandscan.engine.stages.sentiment.aspects import aspect_table
    from brandscan.engine.stages.sentiment.model import document_encoder_id
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.training.opinion_data import corpus_items

    refuse_dev(brands)
    seed_everything(config.seed)
    # float32 states whatever the machine, as the linking head's trainer reads them: with `auto`, a
    # machine with bf16 units would train the head on states that float32 machines never produce.
    loaded = load_model(model, dtype="float32")
    encoder = load_stages(loaded).encoder  # the analyzer's document encoder (linking adapter merged)
    # The minimal catalogue, as `eval brands --catalog minimal` reads the corpus: names and aspects.
    catalog = brand_catalog(brands, "minimal")
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    window = loaded.config.window
    table = aspect_table(catalog, encoder, tokenizer, window)
    docs = read_brand_docs(brands)
    items = corpus_items(docs, catalog, tokenizer, encoder, table, window=window, budget=loaded.config.global_budget,
                         reference_window=config.head.window, log=log)
    config = replace(config, head=replace(config.head, encoder_sha256=document_encoder_id(loaded.heads_dir,
                                                                                         loaded.sha256)))
    polarity = []
    if mams is not None:
        from brandscan.engine.stages.encode import FrontHalf
        from brandscan.engine.stages.mentions import brand_lexicon
        from brandscan.evaluation.datasets.absa import read_absa
        from brandscan.training.opinion_mams import mams_items
        from brandscan.training.sentiment import _mams_files

        setup = FrontHalf(catalog, brand_lexicon(catalog), tokenizer)
        polarity = mams_items(read_absa(_mams_files(mams)[0]), setup, encoder, window=window,
                              budget=loaded.config.global_budget)
        log(f"MAMS ATSA train: {len(polarity)} sentences for the polarity part")
    result = train_opinions(items, catalog, table, config, log, polarity)
    save_opinion_head(result.head, result.config, out)
    data = f"{brands} ({len(docs)} documents, {sum(len(d.opinions) for d in docs)} opinion marks; CC-BY-4.0)"
    if polarity:
        data += (f"; MAMS ATSA train (Apache-2.0), {len(polarity)} sentences, {config.mams_per_epoch} drawn per "
                 f"epoch for the polarity part only (term = reference, its clause = expression), loss weight "
                 f"{config.mams_weight}")
    _write_card(out, result, config, data, len(docs), command)
    return result


def _write_card(out: Path, result: OpinionTrainResult, config: OpinionTrainConfig, data: str, n_docs: int,
                command: str) -> None:
    figures = {"held_out": result.held_out, "baseline_held_out": result.baseline,
               "thresholds": {"inside": result.config.inside_threshold, "attach": result.config.attach_threshold,
                              "fallback": result.config.fallback_threshold},
               "tried": result.tried}
    (out / FIGURES_FILE).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    head = {k: v for k, v in asdict(result.config).items() if k != "encoder_sha256"}
    rows = "\n".join(f"| {k} | {result.held_out[k]:.3f} | {result.baseline[k]:.3f} |" for k in result.held_out)
    fit_docs, held = result.documents
    card = f"""# Opinion head: training card

- What: `brandscan.engine.stages.sentiment.opinion_head` (expression tagger, attach, polarity, aspect)
  over the final states of the document pass (the shipped encoder with the linking adapter merged,
  sha256 {result.config.encoder_sha256[:16]}...); no encoder weights are trained.
- Data: {data}; the minimal catalogue. Dev documents are never read.
- Procedure: seed {config.seed}; of the {n_docs} documents, {fit_docs} fit the shipped head and {held} (chosen by a seeded hash of the file name)
  are held out to choose the thresholds (inside {result.config.inside_threshold}, attach
  {result.config.attach_threshold}, fallback {result.config.fallback_threshold}) and to report the figures below, which are the shipped head's own.
  {config.epochs} epochs, one document a step, AdamW lr {config.lr} (linear decay), weight decay
  {config.weight_decay}; {result.seconds:.0f} s on CPU after encoding.
- Head config: {json.dumps(head)}
- Command: `{command or "(library call)"}`

## Held-out figures (the {held} held-out train documents; gold brand references stand in for linking's)

| figure | head | lexicon baseline (same documents) |
| --- | --- | --- |
{rows}

The corpus dev figures (with linking's references) are printed by
`brandscan eval brands corpus/brands/dev --catalog minimal`; see the README.
"""
    (out / CARD_FILE).write_text(card, encoding="utf-8")
