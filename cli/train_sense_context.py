"""`brandscan train sense-context`: the words-around-the-name prior on ambiguous names' sense."""
from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(group: typer.Typer) -> None:
    group.command("sense-context", no_args_is_help=True)(sense_context)


def sense_context(
    brands: Path = typer.Option(..., "--brands", help="The brand corpus folder the linking head trained on, e.g. "
                                                      "corpus/brands/train; a folder named dev is refused."),
    more: list[Path] = typer.Option(
        [], "--more", help="More annotated folders whose every document trains the table (none is held out), e.g. "
                           "GUM's CC-BY train genres with renamed entities (`brandscan corpus gum GUM OUT --split "
                           "train --senses`); repeatable; a folder named dev is refused."),
    out: Path | None = typer.Option(None, "--out", help="Linking directory to write sense_context.safetensors "
                                                        "into (default: the model's heads/linking)."),
    held_out: float = typer.Option(0.15, "--held-out", min=0.01, max=0.5,
                                   help="The held-out share `train linking-head` used (its --held-out)."),
    seed: int = typer.Option(0, "--seed", help="The seed of that split (its --seed), and of the fit."),
    catalog: str = typer.Option("minimal", "--catalog", help="full, or minimal: drop nouns, context and number."),
    dtype: str = typer.Option("float32", "--dtype", help="Encoder dtype for the held-out sense logits."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
) -> None:
    """Fit the prior on the training documents' ambiguous names (brand or other use, from the gold) and on
    every document of --more, then choose its weight and offset against the shipped sense module on the
    corpus's held-out documents."""
    import json
    import sys

    import numpy as np

    from brandscan.engine.config import check_dtype
    from brandscan.engine.errors import ConfigError
    from brandscan.engine.stages.encode import FrontHalf, front_half
    from brandscan.engine.stages.linking.decide import Linker
    from brandscan.engine.stages.linking.sense import sense_logits
    from brandscan.engine.stages.linking.sense_context import SENSE_CONTEXT_FILE, save_sense_context
    from brandscan.engine.stages.load import LINKING_DIR, load_linking
    from brandscan.engine.stages.mentions import brand_lexicon
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.brand_marks import read_brand_docs
    from brandscan.evaluation.brand_runs import CATALOG_MODES, brand_catalog
    from brandscan.training.brand_training import refuse_dev
    from brandscan.training.cards import card_section, record_figures
    from brandscan.training.held_out import split_by_name
    from brandscan.training.sense_context import SenseItems, choose, fit, training_items

    refuse_dev(brands)
    for folder in more:
        refuse_dev(folder, "--more")
    if catalog not in CATALOG_MODES:
        raise ConfigError(f"--catalog {catalog!r}: expected one of: {', '.join(CATALOG_MODES)}")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    fit_docs, held_docs = split_by_name(read_brand_docs(brands), lambda d: d.name, held_out, seed)
    cat = brand_catalog(brands, catalog)  # type: ignore[arg-type]
    loaded, encoder, linker = load_linking(model, "cpu", check_dtype(dtype, "--dtype"))
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    items = training_items(fit_docs, cat, tokenizer)
    for folder in more:
        training_items(read_brand_docs(folder), brand_catalog(folder, catalog), tokenizer, items)  # type: ignore[arg-type]
    if len(set(items.labels)) < 2:
        raise ConfigError(f"--brands {brands}: the training documents need brand and other uses of ambiguous names")
    log(f"{len(items.labels)} ambiguous names in {len(fit_docs)} training documents and {len(more)} more folder(s) "
        f"({int(sum(items.labels))} brand uses)")
    prior = fit(items, seed, log)

    # The shipped sense module alone on the held-out documents, through the engine's front half.
    alone = Linker(linker.head, linker.directory, profiles=linker.profiles)
    held = SenseItems()
    head_logits: list[float] = []
    window, budget = loaded.config.window, loaded.config.global_budget
    setups: dict[str | None, FrontHalf] = {}
    for doc in held_docs:
        setup = setups.setdefault(doc.author, FrontHalf(cat, brand_lexicon(cat), tokenizer, author=doc.author))
        state = front_half(doc.text, setup, encoder, window=window, budget=budget)
        aliases, spans, logits = sense_logits(state, alone, cat)
        for c, span, logit in zip(aliases, spans, logits.tolist()):
            if held.add(doc, state.tokens.input_ids, span, c):
                head_logits.append(logit)
    if not held.labels or len(set(held.labels)) < 2:
        raise ConfigError(f"--brands {brands}: the held-out documents need brand and other uses of ambiguous names")
    figures: dict[str, object] = {**choose(prior, np.asarray(head_logits), held)}
    figures.update(training_names=len(items.labels), training_documents=len(fit_docs), more=[str(m) for m in more],
                   held_out_documents=len(held_docs), seed=seed, catalog=catalog, dtype=dtype)
    directory = out or loaded.heads_dir / LINKING_DIR
    directory.mkdir(parents=True, exist_ok=True)
    command = "brandscan train sense-context " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    save_sense_context(prior, directory / SENSE_CONTEXT_FILE, {"seed": str(seed), "command": command,
                                                              "figures": json.dumps(figures, sort_keys=True)})
    record_figures(directory, "sense_context", {**figures, "command": command})
    card_section(directory, "Sense context", "\n".join([
        "`sense_context.safetensors`: a logistic prior on an ambiguous name's sense from the word pieces around it",
        f"(never the name's own), added to the sense module's logit with weight {figures['weight']:g} and offset "
        f"{figures['offset']:g} (engine/stages/linking/sense_context.py).",
        f"- Data: the {len(fit_docs)} documents of {brands} the linking head fit on, and every document of "
        f"{', '.join(str(m) for m in more) or 'no other folder'}; {len(items.labels)} ambiguous names.",
        f"- Weight and offset chosen on the {len(held_docs)} held-out documents, for the best balanced accuracy "
        f"against the sense module alone: {figures['held_out_balanced_before']} -> {figures['held_out_balanced']}.",
        f"- Command: `{command}`. Figures: figures.json, \"sense_context\".",
    ]))
    print(json.dumps(figures, sort_keys=True))
