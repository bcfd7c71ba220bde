"""`brandscan train linking-head`: the linking head (ranking, "none", sense) on a frozen adapted encoder."""
from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(group: typer.Typer) -> None:
    group.command("linking-head", no_args_is_help=True)(linking_head)


def linking_head(
    brands: list[Path] = typer.Option(
        ..., "--brands", help="Annotated brand corpus folder (catalog.yaml + *.md), e.g. corpus/brands/train; "
                              "repeatable. A folder named dev is refused: dev never trains anything."),
    out: Path = typer.Option(..., "--out", help="Directory for head.safetensors, figures.json and TRAINING_CARD.md "
                                               "(the encoder's adapter and merged weights are copied beside them)."),
    encoder_from: Path | None = typer.Option(
        None, "--encoder-from", help="Linking directory whose adapter (and merged weights) give the frozen encoder; "
                                     "default: the model's shipped heads/linking."),
    gap: Path | None = typer.Option(None, "--gap", help="GAP folder: gap-development.tsv trains too, "
                                                        "gap-validation.tsv is scored."),
    renamed: int = typer.Option(2, "--renamed", min=0, help="Copies of each brand document with invented brand names."),
    distance: int = typer.Option(1, "--distance", min=0,
                                 help="Copies with 2-8 brand-free paragraphs inserted at paragraph breaks."),
    common_word: int = typer.Option(
        0, "--common-word", min=0, max=1,
        help="Copies in which each ambiguous brand is named by its common word alone, in text and catalogue "
             "(\"Summit\", never \"Summit Outdoors\"), as a user's catalogue names Amazon or Apple; 0 or 1."),
    sense_initial_weight: float = typer.Option(
        1.0, "--sense-initial-weight", min=0.0,
        help="Weight, in the sense loss, of a brand use of an ambiguous name that opens a sentence (1: like any other)."),
    none_context: int = typer.Option(
        0, "--none-context", min=0, max=64,
        help="Tokens either side of a pronoun or noun phrase whose mean state the \"no brand\" decision also reads "
             "(0: the mention's own state only)."),
    sense_profile: int = typer.Option(
        0, "--sense-profile", min=0, max=1,
        help="1: the sense of an ambiguous name also reads how close the words around it are to its brand's "
             "profile (\"name: category\"); 0 or 1."),
    held_out: float = typer.Option(0.15, "--held-out", min=0.0, max=0.5,
                                   help="Share of training documents held out to choose the epoch."),
    epochs: int = typer.Option(30, "--epochs", min=1),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and of the first member."),
    members: int = typer.Option(5, "--members", min=1, max=16,
                                help="Heads fit from seeds seed, seed+1, ... and read as one (their mean "
                                     "log-probabilities); 1: a single head."),
    max_documents: int | None = typer.Option(None, "--max-documents", min=1,
                                             help="At most this many documents per source (smoke runs)."),
    model: str | None = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Base model name or directory."),
    examples: Path | None = typer.Option(
        None, "--examples", help="Folder of encoded examples, one file per document form, named by the hash of its "
                                 "text, the catalogue entries it names, the encoder, the feature names and the source "
                                 "of the code that makes examples: a form found there is read instead of encoded, so a "
                                 "grown corpus encodes only its new forms, and changed candidate or feature code "
                                 "encodes every form again."),
) -> None:
    """Train the linking head on the states of the frozen linking encoder; write it with a training card."""
    import json
    import shutil
    import sys
    import time

    import torch

    from brandscan.engine.model.loader import load_model
    from brandscan.engine.stages.linking.decide import ADAPTER_FILE, HEAD_FILE, MAX_ENTITIES
    from brandscan.engine.stages.linking.head import FEATURES, SENSE_FEATURES, save_head
    from brandscan.engine.stages.load import LINKING_DIR, adapted_encoder
    from brandscan.engine.text.passages import load_tokenizer
    from brandscan.evaluation.datasets.gap import read_gap
    from brandscan.evaluation.linking_runs import evaluate_gap
    from brandscan.training.brand_training import refuse_dev
    from brandscan.training.example_cache import ExampleCache, file_sha256, source_sha256
    from brandscan.training.linking_head import (
        Batchable,
        HeadTrainConfig,
        calibrate,
        fit_members,
        head_accuracy,
        label_counts,
    )

    for folder in brands:
        refuse_dev(folder)
    torch.manual_seed(seed)
    loaded = load_model(model, dtype="float32")
    source_dir = encoder_from or loaded.heads_dir / LINKING_DIR
    encoder = adapted_encoder(loaded, source_dir).eval()
    tokenizer = load_tokenizer(loaded.tokenizer_file)
    window, budget = loaded.config.window, loaded.config.global_budget
    config = HeadTrainConfig(epochs=epochs, seed=seed, width=MAX_ENTITIES, sense_initial_weight=sense_initial_weight,
                             none_context=none_context, sense_profile=bool(sense_profile))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    # none_context joins the base only when set, so caches made before the option stay valid
    base = [FEATURES, SENSE_FEATURES, str(source_dir), window, budget, source_sha256(),
            *([f"none_context={none_context}"] if none_context else []),
            *(["sense_profile"] if sense_profile else []),
            *(file_sha256(source_dir / f) for f in (ADAPTER_FILE, "adapter.json") if (source_dir / f).is_file())]
    cache = ExampleCache(examples, base)
    train_examples, held_examples, sources = _encode(brands, gap, (renamed, distance, common_word), held_out, seed,
                                                     max_documents, encoder, tokenizer, window, budget, cache, log,
                                                     none_context, bool(sense_profile))
    log(f"examples: {cache.hits} forms read from {examples}, {cache.misses} encoded")
    counts = {"train": label_counts(train_examples), "held_out": label_counts(held_examples)}
    log(f"labels: {counts}")
    held = Batchable.of(held_examples, config.width) if held_examples else None
    head, history = fit_members(Batchable.of(train_examples, config.width), held, config, encoder.config.hidden,
                                members, log)
    calibration = calibrate(head, held, log) if held is not None else {}
    seconds = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)
    command = "brandscan train linking-head " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    meta = {"seed": str(seed), "sources": json.dumps(sources), "command": command}
    save_head(head, out / HEAD_FILE, meta)
    if not (out / "ADAPTER_CARD.md").is_file():  # the adapter's own card, kept beside the head's
        for name in ("ADAPTER_CARD.md", "TRAINING_CARD.md"):
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, out / "ADAPTER_CARD.md")
                break
    if out.resolve() != source_dir.resolve():
        for name in (ADAPTER_FILE, "adapter.json", "merged.safetensors", "merged.json"):
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, out / name)
    figures: dict[str, object] = {"labels": counts, "history": history, "calibration": calibration}
    if held is not None:
        figures["held_out"] = head_accuracy(head, held)
        if members > 1:
            figures["held_out_members"] = [head_accuracy(member, held) for member in head.members]
    if gap is not None:
        s = evaluate_gap(encoder, head, read_gap(gap / "gap-validation.tsv"), tokenizer, window, budget, "cpu")
        figures["gap_validation"] = {"masculine": s.masculine, "feminine": s.feminine, "overall": s.overall,
                                     "bias": s.bias}
        log(f"gap_validation: {figures['gap_validation']}")
    (out / "figures.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    (out / "TRAINING_CARD.md").write_text(_card(sources, config, command, figures, seconds, (renamed, distance, common_word),
                                                held_out, (cache.hits, cache.misses), members))
    print(json.dumps({k: v for k, v in figures.items() if k != "history"}, sort_keys=True))


def _encode(brands, gap, copies: tuple[int, int, int], held_out: float, seed: int, max_documents,  # type: ignore[no-untyped-def]
            encoder, tokenizer, window: int, budget: int, cache, log, none_context: int = 0,
            sense_profile: bool = False) -> tuple[list, list, dict]:
    """The encoder passes: every training document (and its renamed and spread forms), the held-out
    documents and GAP rows, as head examples. Each document draws its forms from its own seeded generator,
    so adding documents to the corpus leaves the other documents' renamed forms (and their cache entries) as
    they were; spread forms draw from the whole corpus's brand-free paragraphs and change with it."""
    import random
    import time

    from brandscan.engine.stages.linking.profiles import BrandProfiles
    from brandscan.evaluation.datasets.brands import read_brand_corpus
    from brandscan.evaluation.datasets.gap import gap_to_link, read_gap
    from brandscan.evaluation.linking_runs import prepare_all
    from brandscan.training.brand_augment import (
        brand_free_paragraphs,
        insert_distance,
        name_by_common_word,
        rename_brands,
    )
    from brandscan.training.example_cache import file_sha256, form_key
    from brandscan.training.linking_head import (
        brand_examples,
        prepared_examples,
        split_documents,
        without_anchor_vectors,
    )

    started = time.perf_counter()
    renamed, distance, common_word = copies
    train_examples, held_examples, sources = [], [], {}

    profiles = BrandProfiles(encoder, tokenizer)

    def encoded(doc, catalog):  # type: ignore[no-untyped-def]
        return without_anchor_vectors(cache.get(form_key(doc, catalog), lambda: brand_examples(
            doc, catalog, tokenizer, encoder, window, budget, profiles=profiles, none_context=none_context,
            sense_profile=sense_profile)))

    for folder in brands:
        docs, catalog = read_brand_corpus(folder)
        docs = docs[:max_documents]
        fit_docs, held_docs = split_documents(docs, held_out, seed)
        filler = brand_free_paragraphs(fit_docs)
        forms = 0
        for doc in fit_docs:
            rng = random.Random(f"{seed}:{Path(doc.name).name}")
            train_examples.append(encoded(doc, catalog))
            for _ in range(renamed):
                train_examples.append(encoded(*rename_brands(doc, catalog, rng)))
                forms += 1
            for _ in range(distance):
                train_examples.append(encoded(insert_distance(doc, filler, rng, rng.randint(2, 8)), catalog))
                forms += 1
            common = name_by_common_word(doc, catalog) if common_word else None
            if common is not None and common[0].text != doc.text:  # no ambiguous brand to rename: no copy
                train_examples.append(encoded(*common))
                forms += 1
        held_examples += [encoded(d, catalog) for d in held_docs]
        sources[f"brands:{folder}"] = {"documents": len(fit_docs), "augmented_forms": forms,
                                       "held_out_documents": len(held_docs)}
        log(f"{folder}: {sources[f'brands:{folder}']} ({time.perf_counter() - started:.0f}s)")
    if gap is not None:
        table = gap / "gap-development.tsv"

        def gap_examples() -> list:
            items = prepare_all([gap_to_link(r) for r in read_gap(table)[:max_documents]], tokenizer, budget)
            return [prepared_examples(item, encoder, window, "gap", none_context) for item in items]

        rows = [without_anchor_vectors(e) for e in cache.get(["gap", file_sha256(table), max_documents], gap_examples)]
        train_examples += rows
        sources["gap-development"] = {"documents": len(rows)}
        log(f"gap-development: {len(rows)} rows ({time.perf_counter() - started:.0f}s)")
    return ([e for e in train_examples if e is not None], [e for e in held_examples if e is not None], sources)


def _card(sources: dict, config, command: str, figures: dict, seconds: float,  # type: ignore[no-untyped-def]
          copies: tuple[int, int, int], held_out: float, cached: tuple[int, int], members: int) -> str:
    import json

    from brandscan.training.linking_head import SENSE_CONTEXT

    renamed, distance, common_word = copies
    lines = [
        "# Linking head: training card", "",
        "Ranking, \"none\" and sense modules of the linking head (engine/stages/linking/head.py) over the states of",
        "all-MiniLM-L6-v2 with the linking LoRA adapter, which stays frozen (its own card: ADAPTER_CARD.md).",
        "Trained by training/linking_head.py: each document runs once through the analysis front half and",
        "the engine's own candidates; the head then trains on those inputs.", "",
        "## Data (all openly licensed for this use)",
        "- Brand corpus train split (CC-BY-4.0, written for brandscan): candidates overlapping an implicit mark are",
        "  queries of its brand, all other candidates (pronouns, first person, noun phrases) queries of none;",
        "  ambiguous names overlapping an explicit mark are the brand sense, `[[x|-]]` marks the other sense.",
        f"  Each document also in {renamed} renamed form(s) (invented names) and {distance} form(s) with 2-8",
        "  brand-free paragraphs inserted (training/brand_augment.py)"
        + (", and, where it names an ambiguous brand, in one form that names each ambiguous brand by its common"
           " word alone (name_by_common_word)." if common_word else "."),
        f"  About {held_out:.0%} of the documents, chosen by a seeded hash of the file name (training/held_out.py), is "
        "held out to choose the epoch and the shifts; corpus dev is never read.",
        *(["- GAP development (Apache-2.0); GAP validation is scored below."] if "gap-development" in sources else []),
        f"- Sources: `{json.dumps(sources)}`", "",
        "## Setting",
        (f"- {members} members fit alike from seeds {config.seed}-{config.seed + members - 1} and read as one "
         "(head.HeadEnsemble: the mean of their log-probabilities and of their sense logits)"
         if members > 1 else "- one head"),
        f"- seed {config.seed}, up to {config.epochs} epochs (best held-out epoch kept), AdamW lr {config.lr}, "
        f"weight decay {config.weight_decay}, batch {config.batch} queries, {config.width} brands per query, "
        f"head width {config.pair_width}, dropout {config.dropout}, no anchor vectors in the pair MLP "
        "(LinkingHeadConfig.entity_vectors), the sense module also reading the mean state of the name and "
        f"{SENSE_CONTEXT} tokens either side"
        + (f", the \"no brand\" module the mean state of the mention and {config.none_context} tokens either side"
           if config.none_context else "")
        + (", the sense module the cosine of the name's context with its brand's profile" if config.sense_profile else "")
        + "; then the none and sense shifts calibrated on the held-out documents",
        f"- CPU, {seconds:.0f} s in all, encoder passes included ({cached[1]} document forms encoded, {cached[0]} read "
        "from the --examples folder of an earlier run)", f"- command: `{command}`", "",
        "## Figures (held-out train documents; GAP validation)",
        "```json", json.dumps({k: v for k, v in figures.items() if k != "history"}, indent=2, sort_keys=True), "```",
        "", "Corpus dev figures (`brandscan eval brands corpus/brands/dev --catalog minimal`) are in DEV_FIGURES.md.", "",
    ]
    return "\n".join(lines)
