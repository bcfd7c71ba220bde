"""The report: plain dataclasses and their JSON form (schema `brandscan.report/2`).

Every span in a report is a `Span` into the original document text (for HTML, the extracted
visible text), so `text[span.start:span.end] == span.text` holds for every span of every report.
Serialization is deterministic: lists are sorted by position or id before they get here, floats are
rounded, and only `stats.seconds` and `stats.encoder_seconds` vary between two runs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

SCHEMA = "brandscan.report/2"

MentionKind = Literal["explicit", "alias", "product", "handle", "pronoun", "nominal"]
ExplicitKind = Literal["explicit", "alias", "product", "handle"]
# Kinds the catalogue lexicon matches directly; pronouns and nominals are only ever linked.
EXPLICIT_KINDS: frozenset[str] = frozenset(get_args(ExplicitKind))
Polarity = Literal["positive", "negative", "neutral"]
POLARITIES: tuple[Polarity, ...] = get_args(Polarity)  # the vocabulary, in the order reports list it
# The sentiment head's class order (class index -> polarity); a trained head's config.json stores it.
HEAD_LABELS: tuple[Polarity, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Span:
    """A piece of the document: `text == document.text[start:end]`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class WeightedSpan:
    """A span with a normalized weight (evidence spans sum to 1 within one attribution)."""

    start: int
    end: int
    text: str
    weight: float


@dataclass(frozen=True)
class Anchor:
    """An explicit mention a link was drawn to, and the attention weight that carried it."""

    mention: str  # id of the explicit mention, e.g. "m12"
    start: int
    end: int
    text: str
    passage: int
    weight: float


@dataclass(frozen=True)
class Alternative:
    """The runner-up decision of a link: a brand id, or None for "no brand"."""

    brand: str | None
    probability: float


@dataclass(frozen=True)
class Attribution:
    """Why a mention was linked: anchors with attention weights and top evidence spans."""

    method: str  # "attention" or "rollout"
    anchors: tuple[Anchor, ...] = ()
    evidence: tuple[WeightedSpan, ...] = ()


@dataclass(frozen=True)
class Mention:
    id: str  # "m1", "m2", ... in document order
    brand: str | None  # brand id; None for an unlinked candidate
    kind: MentionKind
    start: int
    end: int
    text: str
    passage: int
    probability: float | None = None  # explicit mentions: None (they are matched, not scored)
    is_global: bool = False  # whether the encoder saw this mention as a global token
    alternative: Alternative | None = None
    attribution: Attribution | None = None


@dataclass(frozen=True)
class Opinion:
    id: str  # "o1", "o2", ... in document order
    brand: str | None
    aspect: str  # a catalogue aspect id, or "overall" (a verdict on the brand as a whole)
    aspect_name: str  # the catalogue's name of the aspect ("price and value"), or "overall"
    polarity: Polarity
    score: float  # signed strength in [-1, 1]: p(positive) - p(negative)
    aspect_span: Span | None  # the aspect's term in the sentence; None when judged by meaning or overall
    opinion_spans: tuple[Span, ...] = ()  # the evaluative expression(s), negators and intensifiers included
    mention: str | None = None  # the mention (reference) the opinion judges
    evidence: tuple[WeightedSpan, ...] = ()  # that mention, weighted by the head's attach probability


@dataclass(frozen=True)
class AspectSentiment:
    aspect: str  # aspect id, or "overall"
    name: str  # the catalogue's aspect name
    positive: int
    negative: int
    neutral: int
    mean_score: float
    strongest_positive: Span | None = None
    strongest_negative: Span | None = None


@dataclass(frozen=True)
class BrandSummary:
    id: str
    name: str
    category: str | None
    counts: dict[str, int]  # by mention kind, plus "total"
    sentiment: tuple[AspectSentiment, ...] = ()
    net_sentiment: float | None = None  # mean opinion score over all aspects; None without opinions


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str
    window: int
    dtype: str
    global_budget: int


@dataclass(frozen=True)
class Stats:
    chars: int
    tokens: int
    passages: int
    global_tokens: int = 0
    global_mentions: int = 0
    seconds: float = 0.0
    encoder_seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    source: str
    sha256: str
    model: ModelInfo | None
    config: str  # sha256 of the resolved config and catalogue: what the output depends on
    stats: Stats
    brands: tuple[BrandSummary, ...] = ()
    mentions: tuple[Mention, ...] = ()
    opinions: tuple[Opinion, ...] = ()
    warnings: tuple[str, ...] = ()
    fired: tuple[str, ...] = ()  # --fail-on conditions this report met
    text: str | None = None  # only with --include-text
    schema: str = SCHEMA


@dataclass(frozen=True)
class ErrorRecord:
    """One input that could not be analyzed; the rest of the batch still is."""

    source: str
    error: str
    schema: str = SCHEMA


def _plain(value: Any) -> Any:
    """The JSON-ready form of a report value, floats rounded, in one walk: `dataclasses.asdict` deep-copies
    every leaf and a second walk rounded them, about 0.1 s of a 16k-token report."""
    # Rounding makes reports stable across BLAS thread counts and tiny float drift.
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def to_dict(record: Report | ErrorRecord) -> dict[str, Any]:
    """The JSON-ready form; `text` is left out unless it was asked for."""
    data = _plain(record)
    if isinstance(record, Report) and record.text is None:
        del data["text"]
    # `schema` first, then the rest in field order: easy to read with `head`.
    return {"schema": data.pop("schema"), **data}


def dumps(record: Report | ErrorRecord, *, pretty: bool = False) -> bytes:
    """Serialize one record (no trailing newline)."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(to_dict(record), option=option)
