"""The one loading path for a model's inference parts: encoder, adapted encoders (shipped merged,
model/merged.py), linking and sentiment heads. The Analyzer, `eval`, bench/ and tests load through here.

    loaded = load_model(None)            # model/loader.py: encoder weights, dtype, threads
    stages = load_stages(loaded)         # linking encoder + head, sentiment scorer (each if trained)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from brandscan.engine.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.model.encoder import Encoder
    from brandscan.engine.model.loader import LoadedModel
    from brandscan.engine.stages.linking.decide import Linker
    from brandscan.engine.stages.sentiment.head import SentimentScorer
    from brandscan.engine.stages.sentiment.model import OpinionModel

LINKING_DIR = "linking"
SENTIMENT_DIR = "sentiment"


@dataclass(frozen=True, eq=False)
class Stages:
    """The model parts an Analyzer loads once: the main encoder (linking adapter merged in), the
    linking head, and the opinion head (over the same pass's states). A model without trained heads
    still finds explicit mentions; its reports say what was skipped."""

    model: LoadedModel
    encoder: Encoder  # the encoder for the document pass
    linker: Linker | None
    opinions: OpinionModel | None
    skipped: tuple[str, ...]  # warnings for every report made with these stages


def has_linking(loaded: LoadedModel, directory: Path | None = None) -> bool:
    from brandscan.engine.stages.linking.decide import HEAD_FILE

    return ((directory or loaded.heads_dir / LINKING_DIR) / HEAD_FILE).is_file()


def has_sentiment(loaded: LoadedModel, directory: Path | None = None) -> bool:
    from brandscan.engine.stages.sentiment.head import CONFIG_FILE

    return ((directory or loaded.heads_dir / SENTIMENT_DIR) / CONFIG_FILE).is_file()


def adapted_encoder(loaded: LoadedModel, directory: Path) -> Encoder:
    """The encoder with `directory`'s adapter merged: the shipped merged weights (model/merged.py,
    sha256-verified, sharing the base's other tensors), else merged into a copy here."""
    from brandscan.engine.model.adapters import load_adapter
    from brandscan.engine.model.merged import load_merged

    merged = load_merged(loaded, directory)
    return merged if merged is not None else load_adapter(loaded.encoder, directory)


def load_linker(loaded: LoadedModel, directory: str | Path | None = None) -> tuple[Encoder, Linker]:
    """(encoder with the linking adapter merged, or the model's own; the linking head)."""
    from brandscan.engine.stages.linking.decide import Linker
    from brandscan.engine.stages.linking.profiles import BrandProfiles

    directory = Path(directory) if directory is not None else loaded.heads_dir / LINKING_DIR
    if not has_linking(loaded, directory):
        raise ModelError(f"{directory}: no trained linking head (run `brandscan train linking`)")
    linker = Linker.load(directory)
    if linker.adapter_path is None:
        encoder = loaded.for_inference(loaded.encoder)
    else:
        encoder = loaded.for_inference(adapted_encoder(loaded, directory).eval(), directory)
    # Brand profiles are read through the encoder the document pass uses (profiles.py).
    profiles = BrandProfiles(encoder, loaded.tokenizer_file)
    return encoder, dataclasses.replace(linker, profiles=profiles)


def load_scorer(loaded: LoadedModel, directory: str | Path | None = None, *, device: str = "cpu") -> SentimentScorer:
    """The sentiment scorer over the model's encoder with the sentiment adapter merged."""
    from brandscan.engine.stages.sentiment.head import CONFIG_FILE, HEAD_FILE, SentimentScorer, load_head
    from brandscan.engine.text.passages import load_tokenizer

    directory = Path(directory) if directory is not None else loaded.heads_dir / SENTIMENT_DIR
    if not has_sentiment(loaded, directory):
        raise ModelError(f"{directory}: no sentiment head here (expected {CONFIG_FILE}, {HEAD_FILE})")
    head, config = load_head(directory)
    encoder = loaded.for_inference(adapted_encoder(loaded, directory), directory)
    return SentimentScorer(encoder, head, config, load_tokenizer(loaded.tokenizer_file), device=device)


def load_stages(loaded: LoadedModel) -> Stages:
    """Every trained part of `loaded`; a missing head is a warning in each report, not an error."""
    skipped = []
    if has_linking(loaded):
        encoder, linker = load_linker(loaded)
    else:
        encoder, linker = loaded.for_inference(loaded.encoder), None
        skipped.append(f"model {loaded.name} has no linking head: implicit mentions were not linked")
    opinions = load_opinions(loaded, encoder) if has_opinions(loaded) else None
    if opinions is None:
        skipped.append(f"model {loaded.name} has no opinion head: opinions were not found")
    elif stale := stale_opinions(loaded, opinions):
        skipped.append(stale)
    return Stages(model=loaded, encoder=encoder, linker=linker, opinions=opinions, skipped=tuple(skipped))


def has_opinions(loaded: LoadedModel) -> bool:
    from brandscan.engine.stages.sentiment.opinion_head import has_opinion_head

    return has_opinion_head(loaded.heads_dir / SENTIMENT_DIR)


def load_opinions(loaded: LoadedModel, encoder: Encoder) -> OpinionModel:
    """The opinion head (heads/sentiment/opinion_head.*), reading the document pass of `encoder`."""
    from brandscan.engine.stages.sentiment.model import OpinionModel
    from brandscan.engine.text.passages import load_tokenizer

    return OpinionModel.load(loaded.heads_dir / SENTIMENT_DIR, encoder, load_tokenizer(loaded.tokenizer_file),
                             loaded.config.window)


def stale_opinions(loaded: LoadedModel, opinions: OpinionModel) -> str | None:
    """A warning when the opinion head was trained on another document encoder (a retrained linking
    adapter changes the states it reads)."""
    from brandscan.engine.stages.sentiment.model import document_encoder_id

    trained = opinions.config.encoder_sha256
    now = document_encoder_id(loaded.heads_dir, loaded.sha256)
    if trained and trained != now:
        return (f"the opinion head was trained on document encoder {trained[:12]}, this model's is {now[:12]}: "
                "retrain it (brandscan train opinions)")
    return None


def load_linking(model: str | None = None, device: str = "cpu", dtype: str = "float32",
                 heads: str | Path | None = None) -> tuple[LoadedModel, Encoder, Linker]:
    """(LoadedModel, encoder with the linking adapter merged, Linker) for scoring and evaluation."""
    from brandscan.engine.model.loader import load_model

    loaded = load_model(model, dtype=dtype, device=device)  # type: ignore[arg-type]
    encoder, linker = load_linker(loaded, heads)
    return loaded, encoder, linker


def load_sentiment(model: str | Path | None = None, directory: str | Path | None = None, *, device: str = "cpu",
                   threads: int | None = None, dtype: str = "auto") -> SentimentScorer:
    """The default (or given) model with its sentiment adapter and head merged in."""
    from brandscan.engine.model.loader import load_model

    loaded = load_model(model, threads=threads, device=device, dtype=dtype)  # type: ignore[arg-type]
    return load_scorer(loaded, directory, device=device)
