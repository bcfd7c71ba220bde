"""Analyzer: the stages in order, documents in, reports out.

    from brandscan.engine import Analyzer
    from brandscan.engine.catalog import load_catalog
    report = Analyzer(load_catalog("brands.yaml")).analyze_text("Norvik's new jacket ...")

One Analyzer loads its model once (lazily, on the first document) and is then reused for every
document; it holds no state that one document's analysis leaves for the next.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import report as rp
from .catalog import Catalog
from .config import AnalyzerConfig
from .documents import Document, DocumentFailure
from .mentions import ExplicitMention, aspect_lexicon, brand_lexicon, find_explicit
from .passages import TokenizedDocument, load_tokenizer, tokenize_document

if TYPE_CHECKING:  # pragma: no cover
    from .models import LoadedModel


@dataclass(frozen=True, eq=False)
class Stages:
    """The model parts an Analyzer loads once: the main encoder (linking adapter merged in), the
    linking head, and the sentiment scorer. A model without trained heads still finds explicit
    mentions; its reports say what was skipped."""

    model: LoadedModel
    encoder: Any  # the encoder for the document pass
    linker: Any | None  # linking.Linker
    scorer: Any | None  # sentiment_head.SentimentScorer
    skipped: tuple[str, ...]  # warnings for every report made with these stages


@dataclass(frozen=True, eq=False)
class Encoded:
    """What the encoder pass leaves for the later stages."""

    global_positions: np.ndarray  # (g,) sorted sequence positions of the global tokens
    states: Any  # linking.EncodedStates, or None for an empty document
    seconds: float


class Analyzer:
    """Runs every stage over one document at a time. Not thread-safe; one per worker process."""

    def __init__(self, catalog: Catalog, config: AnalyzerConfig | None = None) -> None:
        self.catalog = catalog
        self.config = config or AnalyzerConfig()
        self._lexicon = brand_lexicon(catalog)
        self._aspects = aspect_lexicon(catalog)
        self._model: LoadedModel | None = None
        self._stages: Stages | None = None
        self._tokenizer = None

    # -- lazily loaded parts -------------------------------------------------------------------
    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            from .models import load_model

            self._model = load_model(self.config.model, dtype=self.config.dtype, threads=self.config.threads)
        return self._model

    @property
    def stages(self) -> Stages:
        if self._stages is None:
            stages = _load_stages(self.model)
            if self.window != stages.encoder.config.window:
                # The document pass's encoder is this Analyzer's own; --window changes only it.
                stages.encoder.config = dataclasses.replace(stages.encoder.config, window=self.window)
            self._stages = stages
        return self._stages

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.model.tokenizer_file)
        return self._tokenizer

    @property
    def window(self) -> int:
        return self.config.window or self.model.config.window

    @property
    def global_budget(self) -> int:
        budget = self.config.global_budget
        return self.model.config.global_budget if budget is None else budget

    def model_info(self) -> rp.ModelInfo:
        model = self.model
        return rp.ModelInfo(
            name=model.name,
            sha256=model.sha256,
            window=self.window,
            dtype=str(model.dtype).removeprefix("torch."),
            global_budget=self.global_budget,
        )

    def config_digest(self) -> str:
        """What a report depends on besides the document and model: config and catalogue."""
        import hashlib

        return hashlib.sha256(f"{self.config.digest()}:{self.catalog.sha256}".encode()).hexdigest()

    # -- stages --------------------------------------------------------------------------------
    def analyze_text(self, text: str, source: str = "<text>") -> rp.Report:
        """Analyze a string as one document."""
        import hashlib

        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return self.analyze(Document(source=source, text=text, sha256=digest))

    def analyze(self, document: Document) -> rp.Report:
        from .candidates import find_candidates

        # Loading the model and heads (first document only) is not part of a document's seconds.
        stages, tokenizer = self.stages, self.tokenizer
        started = time.perf_counter()
        text = document.text
        tokens = tokenize_document(text, tokenizer, self.config.passage_tokens)
        explicit = find_explicit(text, self._lexicon, self.catalog)
        candidates = find_candidates(text, explicit, self.catalog, author=self.config.author)
        encoded = self._encode(tokens, explicit)
        global_set = set(encoded.global_positions.tolist())

        linked: tuple[rp.Mention, ...] = ()
        if stages.linker is not None and encoded.states is not None:
            import torch

            from .linking import LinkingOptions, link_document

            options = LinkingOptions(attribution=self.config.attribution, evidence_spans=self.config.evidence_spans)
            with torch.inference_mode():
                result = link_document(
                    tokens, explicit, candidates, encoded.states, encoded.global_positions, self.catalog,
                    stages.linker, options,
                )
            linked = result.mentions
        decided = {(m.start, m.end) for m in linked}
        # Ambiguous names are reported only with their sense decision, which linking makes.
        plain = [m for m in explicit if (m.start, m.end) not in decided and not (m.ambiguous and stages.linker)]
        mentions = _numbered([_explicit_mention(m, tokens, global_set) for m in plain] + list(linked))

        opinions: tuple[rp.Opinion, ...] = ()
        sentiment: dict[str, tuple[tuple[rp.AspectSentiment, ...], float]] = {}
        if stages.scorer is not None and tokens.n_tokens:
            from .sentiment import SentimentOptions, find_opinions, summarize_sentiment

            options = SentimentOptions(unattributed=self.config.unbranded_opinions)
            opinions = find_opinions(tokens, mentions, self._aspects, stages.scorer, options)
            sentiment = summarize_sentiment(opinions, text)

        warnings = list(document.warnings) + list(stages.skipped)
        explicit_mentions = [m for m in mentions if m.kind in ("explicit", "alias", "product", "handle")]
        dropped = sum(1 for m in explicit_mentions if not m.is_global)
        if dropped and len(encoded.global_positions) >= self.global_budget:
            warnings.append(
                f"global budget of {self.global_budget} tokens reached: {dropped} of {len(explicit_mentions)}"
                " explicit mentions were encoded as local tokens"
            )
        stats = rp.Stats(
            chars=len(text),
            tokens=tokens.n_tokens,
            passages=len(tokens.passages),
            global_tokens=int(len(encoded.global_positions)),
            global_mentions=sum(1 for m in mentions if m.is_global),
            seconds=time.perf_counter() - started,
            encoder_seconds=encoded.seconds,
        )
        return rp.Report(
            source=document.source,
            sha256=document.sha256,
            model=self.model_info(),
            config=self.config_digest(),
            stats=stats,
            brands=_brand_summaries(self.catalog, mentions, opinions, sentiment),
            mentions=tuple(mentions),
            opinions=opinions,
            warnings=tuple(warnings),
            text=text if self.config.include_text else None,
        )

    def _encode(self, tokens: TokenizedDocument, explicit: list[ExplicitMention]) -> Encoded:
        """One encoder pass over the whole document: passage markers and brand anchors are global."""
        from .globals import select_global_tokens
        from .linking import encode_for_linking

        markers = np.flatnonzero(tokens.is_marker)
        anchors = [(tokens.token_span(m.start, m.end)[0], m.brand) for m in explicit]
        positions = np.asarray(
            select_global_tokens(tokens.n_tokens, markers.tolist(), anchors, self.global_budget), dtype=np.int64
        )
        started = time.perf_counter()
        states = None
        if tokens.n_tokens:
            states = encode_for_linking(self.stages.encoder, tokens, positions)
        return Encoded(global_positions=positions, states=states, seconds=time.perf_counter() - started)


def _load_stages(model: LoadedModel) -> Stages:
    from .adapters import load_adapter
    from .linking import HEAD_FILE, Linker
    from .sentiment_head import CONFIG_FILE, SentimentScorer

    skipped = []
    linker = None
    encoder = model.encoder
    linking_dir = model.heads_dir / "linking"
    if (linking_dir / HEAD_FILE).is_file():
        linker = Linker.load(linking_dir)
        if linker.adapter_path is not None:
            encoder = load_adapter(model.encoder, linking_dir).eval()
    else:
        skipped.append(f"model {model.name} has no linking head: implicit mentions were not linked")
    scorer = None
    if (model.heads_dir / "sentiment" / CONFIG_FILE).is_file():
        scorer = SentimentScorer.from_loaded(model)
    else:
        skipped.append(f"model {model.name} has no sentiment head: opinions were not scored")
    return Stages(model=model, encoder=encoder, linker=linker, scorer=scorer, skipped=tuple(skipped))


def _explicit_mention(m: ExplicitMention, tokens: TokenizedDocument, global_set: set[int]) -> rp.Mention:
    first, _ = tokens.token_span(m.start, m.end)
    return rp.Mention(
        id="",
        brand=m.brand,
        kind=m.kind,
        start=m.start,
        end=m.end,
        text=m.text,
        passage=int(tokens.passage_of[first]),
        is_global=first in global_set,
    )


def _numbered(mentions: list[rp.Mention]) -> list[rp.Mention]:
    """Stable ids m1, m2, ... in document order; anchors are renamed to match."""
    from dataclasses import replace

    ordered = sorted(mentions, key=lambda m: (m.start, m.end, m.kind))
    ids = {(m.start, m.end): f"m{i}" for i, m in enumerate(ordered, 1)}
    result = []
    for m in ordered:
        attribution = m.attribution
        if attribution is not None:
            anchors = tuple(replace(a, mention=ids.get((a.start, a.end), a.mention)) for a in attribution.anchors)
            attribution = replace(attribution, anchors=anchors)
        result.append(replace(m, id=ids[(m.start, m.end)], attribution=attribution))
    return result


def _brand_summaries(
    catalog: Catalog,
    mentions: list[rp.Mention],
    opinions: tuple[rp.Opinion, ...],
    sentiment: dict[str, tuple[tuple[rp.AspectSentiment, ...], float]],
) -> tuple[rp.BrandSummary, ...]:
    """Counts and sentiment per brand present in the document, sorted by brand id."""
    by_brand: dict[str, Counter[str]] = {}
    for m in mentions:
        if m.brand is not None:
            by_brand.setdefault(m.brand, Counter())[m.kind] += 1
    for o in opinions:
        if o.brand is not None:
            by_brand.setdefault(o.brand, Counter())
    summaries = []
    for brand_id in sorted(by_brand):
        brand = catalog.brand(brand_id)
        counts = dict(sorted(by_brand[brand_id].items()))
        counts["total"] = sum(by_brand[brand_id].values())
        aspects, net = sentiment.get(brand_id, ((), None))
        summaries.append(
            rp.BrandSummary(
                id=brand.id, name=brand.name, category=brand.category, counts=counts, sentiment=aspects,
                net_sentiment=net,
            )
        )
    return tuple(summaries)


__all__ = ["Analyzer", "AnalyzerConfig", "Document", "DocumentFailure"]
