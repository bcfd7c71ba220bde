"""`--fail-on` conditions: a small grammar over one report, and its evaluator.

    condition := [scope "."] metric op number
    scope     := "brand:" BRAND_ID ["." "aspect:" ASPECT_ID] | "aspect:" ASPECT_ID
    op        := ">" | ">=" | "<" | "<=" | "==" | "!="
    number    := a decimal such as 10, 0.3, .5 or 1e-3

Examples: `unlinked>10`, `errors>0`, `brand:acme.mentions==0`, `brand:acme.negative_share>0.3`,
`brand:acme.aspect:delivery.negative>=2`, `aspect:price.negative_share>0.5`.

Brand and aspect ids may contain dots (the catalogue allows them), so the metric is always the last
dot-separated name and a dot only opens a new scope when `brand:` or `aspect:` follows it. Every
metric is defined in docs/scale.md; `metrics()` computes them from a report's JSON form, so a gate
reads exactly what the report says.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brandscan.engine.errors import ConfigError
from brandscan.engine.report import EXPLICIT_KINDS, POLARITIES

# Metrics of the whole document. Opinion metrics count every opinion, whichever brand it is for.
DOCUMENT_METRICS = (
    "mentions", "explicit", "linked", "unlinked", "opinions", "positive", "negative", "neutral",
    "positive_share", "negative_share", "neutral_share", "net_sentiment", "warnings", "errors",
)
# Metrics of one brand (mentions attributed to it, opinions about it).
BRAND_METRICS = (
    "mentions", "explicit", "linked", "opinions", "positive", "negative", "neutral",
    "positive_share", "negative_share", "neutral_share", "net_sentiment",
)
# Metrics of one aspect (optionally within one brand): only opinions carry aspects.
ASPECT_METRICS = (
    "opinions", "positive", "negative", "neutral", "positive_share", "negative_share", "neutral_share",
    "net_sentiment",
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}

_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATOR = re.compile(r">=|<=|==|!=|>|<")
_METRIC = re.compile(r"[a-z_]+\Z")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class Condition:
    """One parsed `--fail-on` expression. `text` is what the user wrote, stripped: reports list it."""

    text: str
    metric: str
    op: str
    threshold: float
    brand: str | None = None
    aspect: str | None = None

    def holds(self, values: Mapping[str, float]) -> bool:
        return OPERATORS[self.op](values[self.metric], self.threshold)


class GateError(ConfigError):
    """A `--fail-on` expression that does not parse; the message shows where and what was expected."""


def _fail(text: str, column: int, problem: str, expected: str) -> GateError:
    rest = text[column:] or "end of expression"
    return GateError(
        f"--fail-on {text!r}: column {column + 1} (at {rest!r}): {problem}; expected {expected}"
    )


def parse_condition(expression: str) -> Condition:
    """Parse one expression; raise GateError naming the column, the problem and what was expected."""
    text = expression.strip()
    if not text:
        raise _fail(text, 0, "empty condition", "a condition such as 'unlinked>10' or 'brand:ID.mentions==0'")
    name = _NAME.match(text)
    if name is None:
        raise _fail(text, 0, "no metric", "a metric name or a scope (brand:ID. or aspect:ID.)")
    path, position = name.group(), name.end()
    brand, aspect, metric = _split_path(text, path)
    while position < len(text) and text[position] == " ":
        position += 1
    found = _OPERATOR.match(text, position)
    if found is None:
        raise _fail(text, position, "no comparison", f"one of: {', '.join(OPERATORS)}")
    position = found.end()
    while position < len(text) and text[position] == " ":
        position += 1
    number = _NUMBER.match(text, position)
    if number is None:
        raise _fail(text, position, "no number", "a number such as 0, 10 or 0.3")
    if number.end() != len(text):
        raise _fail(text, number.end(), "unexpected text after the number", "the end of the condition")
    threshold = float(number.group())
    if not math.isfinite(threshold):
        raise _fail(text, position, "not a finite number", "a number such as 0, 10 or 0.3")
    return Condition(text=text, metric=metric, op=found.group(), threshold=threshold, brand=brand, aspect=aspect)


def _split_path(text: str, path: str) -> tuple[str | None, str | None, str]:
    """`brand:a.b.aspect:x.metric` -> ("a.b", "x", "metric"); columns in errors refer to `text`."""
    head, dot, metric = path.rpartition(".")
    metric_column = len(head) + len(dot)
    brand = aspect = None
    if head:
        scopes = re.split(r"\.(?=brand:|aspect:)", head)
        column = 0
        for scope in scopes:
            kind, colon, ident = scope.partition(":")
            if not colon or kind not in ("brand", "aspect"):
                raise _fail(text, column, f"unknown scope {scope!r}", "brand:ID or aspect:ID before the metric")
            if not _ID.match(ident):
                raise _fail(text, column + len(kind) + 1, f"bad {kind} id {ident!r}",
                            f"a {kind} id from the catalogue (letters, digits, '_', '.', '-')")
            if (kind == "brand" and (brand is not None or aspect is not None)) or (kind == "aspect" and aspect):
                raise _fail(text, column, f"{kind}: scope repeated or out of order",
                            "at most one brand:ID, then at most one aspect:ID")
            if kind == "brand":
                brand = ident
            else:
                aspect = ident
            column += len(scope) + 1
    allowed = ASPECT_METRICS if aspect else BRAND_METRICS if brand else DOCUMENT_METRICS
    where = "an aspect" if aspect else "a brand" if brand else "a document"
    if not _METRIC.match(metric) or metric not in allowed:
        problem = f"unknown metric {metric!r}" if metric not in DOCUMENT_METRICS else f"{metric!r} is not a metric of {where}"
        raise _fail(text, metric_column, problem, f"one of: {', '.join(allowed)}")
    return brand, aspect, metric


def parse_conditions(
    expressions: Iterable[str], brand_ids: Iterable[str] = (), aspect_ids: Iterable[str] = ()
) -> tuple[Condition, ...]:
    """Parse every expression; with catalogue ids given, a brand or aspect not in it is an error."""
    brands, aspects = set(brand_ids), set(aspect_ids)
    conditions = []
    for expression in expressions:
        condition = parse_condition(expression)
        if brands and condition.brand is not None and condition.brand not in brands:
            raise GateError(f"--fail-on {condition.text!r}: no brand {condition.brand!r} in the catalogue; "
                            f"expected one of: {', '.join(sorted(brands))}")
        if aspects and condition.aspect is not None and condition.aspect not in aspects:
            raise GateError(f"--fail-on {condition.text!r}: no aspect {condition.aspect!r} in the catalogue; "
                            f"expected one of: {', '.join(sorted(aspects))}")
        conditions.append(condition)
    return tuple(conditions)


def _opinion_metrics(opinions: list[Mapping[str, Any]]) -> dict[str, float]:
    count = len(opinions)
    values: dict[str, float] = {"opinions": count}
    for polarity in POLARITIES:
        n = sum(1 for o in opinions if o["polarity"] == polarity)
        values[polarity] = n
        values[f"{polarity}_share"] = n / count if count else 0.0
    values["net_sentiment"] = sum(float(o["score"]) for o in opinions) / count if count else 0.0
    return values


def _mention_metrics(mentions: list[Mapping[str, Any]]) -> dict[str, float]:
    attributed = [m for m in mentions if m["brand"] is not None]
    explicit = sum(1 for m in attributed if m["kind"] in EXPLICIT_KINDS)
    return {"mentions": len(attributed), "explicit": explicit, "linked": len(attributed) - explicit}


def metrics(record: Mapping[str, Any], brand: str | None = None, aspect: str | None = None) -> dict[str, float]:
    """Every metric of `record` (a report or error record as JSON) in one scope; see docs/scale.md."""
    if "error" in record:
        zeros: dict[str, float] = dict.fromkeys(DOCUMENT_METRICS, 0.0)
        return {**zeros, "errors": 1.0}
    mentions = list(record.get("mentions", ()))
    opinions = list(record.get("opinions", ()))
    if brand is not None:
        mentions = [m for m in mentions if m["brand"] == brand]
        opinions = [o for o in opinions if o["brand"] == brand]
    if aspect is not None:
        return _opinion_metrics([o for o in opinions if o["aspect"] == aspect])
    values = {**_mention_metrics(mentions), **_opinion_metrics(opinions)}
    if brand is None:
        values["unlinked"] = sum(1 for m in mentions if m["brand"] is None)
        values["warnings"] = len(record.get("warnings", ()))
        values["errors"] = 0.0
    return values


def fired(record: Mapping[str, Any], conditions: Iterable[Condition]) -> tuple[str, ...]:
    """The text of each condition `record` meets, in the order the conditions were given."""
    cache: dict[tuple[str | None, str | None], dict[str, float]] = {}
    result = []
    for condition in conditions:
        scope = (condition.brand, condition.aspect)
        if scope not in cache:
            cache[scope] = metrics(record, *scope)
        values = cache[scope]
        # An error record has no brands or aspects: only its document metrics can fire.
        measurable = condition.metric in values and (scope == (None, None) or "error" not in record)
        if measurable and condition.holds(values):
            result.append(condition.text)
    return tuple(result)
