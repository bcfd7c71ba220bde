"""Analyzer: the stages in order, documents in, reports out.

    from brandscan.engine import Analyzer
    from brandscan.engine.catalog import load_catalog
    report = Analyzer(load_catalog("brands.yaml")).analyze_text("Norvik's new jacket ...")

One Analyzer loads its model once (lazily, on the first document) and is then reused for every
document; it holds no state that one document's analysis leaves for the next.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from brandscan.engine.catalog import Catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.report import (
    EXPLICIT_KINDS,
    AspectSentiment,
    BrandSummary,
    Mention,
    ModelInfo,
    Opinion,
    Report,
    Stats,
)
from brandscan.engine.stages.mentions import ExplicitMention, brand_lexicon
from brandscan.engine.text.documents import Document, DocumentFailure
from brandscan.engine.text.passages import TokenizedDocument, load_tokenizer

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.model.loader import LoadedModel
    from brandscan.engine.stages.encode import DocState, FrontHalf
    from brandscan.engine.stages.load import Stages


class Analyzer:
    """Runs every stage over one document at a time. Not thread-safe; one per worker process."""

    def __init__(self, catalog: Catalog, config: AnalyzerConfig | None = None) -> None:
        self.catalog = catalog
        self.config = config or AnalyzerConfig()
        self._lexicon = brand_lexicon(catalog)
        self._model: LoadedModel | None = None
        self._stages: Stages | None = None
        self._front: FrontHalf | None = None

    # -- lazily loaded parts -------------------------------------------------------------------
    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            from brandscan.engine.model.loader import load_model

            self._model = load_model(self.config.model, dtype=self.config.dtype, threads=self.config.threads)
        return self._model

    @property
    def stages(self) -> Stages:
        if self._stages is None:
            from brandscan.engine.stages.load import load_stages

            self._stages = load_stages(self.model)
        return self._stages

    @property
    def front(self) -> FrontHalf:
        """What the front half reads besides the document (stages/encode.py)."""
        if self._front is None:
            from brandscan.engine.stages.encode import FrontHalf, kept_layers

            self._front = FrontHalf(self.catalog, self._lexicon, load_tokenizer(self.model.tokenizer_file),
                                    author=self.config.author, passage_tokens=self.config.passage_tokens,
                                    keep_layers=kept_layers(self.config.attribution))
        return self._front

    @property
    def window(self) -> int:
        """This Analyzer's window: passed to every encoder pass, never written onto the model."""
        return self.config.window or self.model.config.window

    @property
    def global_budget(self) -> int:
        budget = self.config.global_budget
        return self.model.config.global_budget if budget is None else budget

    def model_info(self) -> ModelInfo:
        model = self.model
        return ModelInfo(
            name=model.name,
            sha256=model.sha256,
            window=self.window,
            dtype=model.dtype_name,
            global_budget=self.global_budget,
        )

    def config_digest(self) -> str:
        """What a report depends on besides the document and model: config and catalogue."""
        import hashlib

        return hashlib.sha256(f"{self.config.digest()}:{self.catalog.sha256}".encode()).hexdigest()

    # -- stages --------------------------------------------------------------------------------
    def analyze_text(self, text: str, source: str = "<text>") -> Report:
        """Analyze a string as one document."""
        import hashlib

        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return self.analyze(Document(source=source, text=text, sha256=digest))

    def analyze(self, document: Document) -> Report:
        """The stages in order over one frozen DocState: front half, linking, opinions, report."""
        from brandscan.engine.stages.encode import front_half

        # Loading the model and heads (first document only) is not part of a document's seconds.
        stages, front = self.stages, self.front
        started = time.perf_counter()
        state = front_half(document.text, front, stages.encoder, window=self.window, budget=self.global_budget)
        mentions = self._mentions(state)
        state = state.after_linking()  # opinions read the final states only: let the layer inputs go
        opinions, sentiment = self._opinions(state, mentions)
        stats = Stats(
            chars=len(state.text),
            tokens=state.tokens.n_tokens,
            passages=len(state.tokens.passages),
            global_tokens=int(len(state.encoded.global_positions)),
            global_mentions=sum(1 for m in mentions if m.is_global),
            seconds=time.perf_counter() - started,
            encoder_seconds=state.encoded.seconds,
        )
        return Report(
            source=document.source,
            sha256=document.sha256,
            model=self.model_info(),
            config=self.config_digest(),
            stats=stats,
            brands=_brand_summaries(self.catalog, mentions, opinions, sentiment),
            mentions=tuple(mentions),
            opinions=opinions,
            warnings=tuple(list(document.warnings) + list(stages.skipped) + self._budget_warning(state, mentions)),
            text=document.text if self.config.include_text else None,
        )

    def _mentions(self, state: DocState) -> list[Mention]:
        """Explicit mentions and linked candidates, numbered m1, m2, ... in document order."""
        stages = self.stages
        linked: tuple[Mention, ...] = ()
        if stages.linker is not None and state.encoded.states is not None:
            from brandscan.engine.stages.linking.decide import LinkingOptions, link

            options = LinkingOptions(attribution=self.config.attribution, evidence_spans=self.config.evidence_spans,
                                     link_bias=self.config.link_bias)
            linked = link(state, self.catalog, stages.linker, options).mentions
        decided = {(m.start, m.end) for m in linked}
        global_set = set(state.encoded.global_positions.tolist())
        # Ambiguous names are reported only with their sense decision, which linking makes.
        plain = [m for m in state.explicit
                 if (m.start, m.end) not in decided and not (m.ambiguous and stages.linker)]
        return _numbered([_explicit_mention(m, state.tokens, global_set) for m in plain] + list(linked))

    def _opinions(
        self, state: DocState, mentions: list[Mention]
    ) -> tuple[tuple[Opinion, ...], dict[str, tuple[tuple[AspectSentiment, ...], float]]]:
        """Opinions about every accepted brand reference, from the document pass's states, and the
        per-brand, per-aspect summary."""
        model = self.stages.opinions
        if model is None or state.encoded.states is None:
            return (), {}
        from brandscan.engine.stages.sentiment.summary import summarize_sentiment

        opinions = model.find(state.tokens, state.encoded.states, mentions, self.catalog)
        return opinions, summarize_sentiment(opinions)

    def _budget_warning(self, state: DocState, mentions: list[Mention]) -> list[str]:
        """A warning when the global budget left explicit mentions as local tokens."""
        explicit_mentions = [m for m in mentions if m.kind in EXPLICIT_KINDS]
        dropped = sum(1 for m in explicit_mentions if not m.is_global)
        if dropped and len(state.encoded.global_positions) >= self.global_budget:
            return [f"global budget of {self.global_budget} tokens reached: {dropped} of {len(explicit_mentions)}"
                    " explicit mentions were encoded as local tokens"]
        return []


def _explicit_mention(m: ExplicitMention, tokens: TokenizedDocument, global_set: set[int]) -> Mention:
    first, _ = tokens.token_span(m.start, m.end)
    return Mention(
        id="",
        brand=m.brand,
        kind=m.kind,
        start=m.start,
        end=m.end,
        text=m.text,
        passage=int(tokens.passage_of[first]),
        is_global=first in global_set,
    )


def _numbered(mentions: list[Mention]) -> list[Mention]:
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
    mentions: list[Mention],
    opinions: tuple[Opinion, ...],
    sentiment: dict[str, tuple[tuple[AspectSentiment, ...], float]],
) -> tuple[BrandSummary, ...]:
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
            BrandSummary(
                id=brand.id, name=brand.name, category=brand.category, counts=counts, sentiment=aspects,
                net_sentiment=net,
            )
        )
    return tuple(summaries)


__all__ = ["Analyzer", "AnalyzerConfig", "Document", "DocumentFailure"]
