"""Is a stored report (its JSON form) a well-formed report of this very document?

The cache serves a report only if this says yes. A checksum catches a torn or flipped entry, but not
an entry copied under another document's key or edited with its checksum recomputed, nor a report of
the wrong shape that would crash `--summary` or `--fail-on` later. So every field is checked against
the Report dataclasses' annotations, every span against the document text, and the summary counts
against the mentions. The check reads the dicts as they are: rebuilding the dataclasses would cost
more than the cache saves (see cache.CachedReport).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections import Counter
from functools import cache
from typing import Any

from brandscan.engine import report as report_types

__all__ = ["ReportProblem", "check_report"]


class ReportProblem(ValueError):
    """Why a stored report cannot stand for the document (one line, with the JSON path)."""


def check_report(data: dict[str, Any], text: str, sha256: str) -> None:
    """Raise ReportProblem unless `data` is a report of the document `text` (whose sha256 is given)."""
    _check(report_types.Report, data, "report")
    if data["sha256"] != sha256:
        raise ReportProblem(f"report.sha256 {data['sha256'][:12]}... is another document's")
    if data["stats"]["chars"] != len(text):
        raise ReportProblem(f"report.stats.chars {data['stats']['chars']} != the document's {len(text)}")
    if data.get("text") is not None and data["text"] != text:
        raise ReportProblem("report.text is not the document's text")
    for path, span in _spans(data):
        start, end = span["start"], span["end"]
        if not (0 <= start <= end <= len(text)) or text[start:end] != span["text"]:
            raise ReportProblem(f"{path} [{start}, {end}) {span['text']!r} is not in the document")
    _check_counts(data)


def _check_counts(data: dict[str, Any]) -> None:
    by_brand: dict[str, Counter[str]] = {}
    for mention in data["mentions"]:
        if mention["brand"] is not None:
            by_brand.setdefault(mention["brand"], Counter())[mention["kind"]] += 1
    ids = {m["id"] for m in data["mentions"]}
    for i, opinion in enumerate(data["opinions"]):
        if opinion["mention"] is not None and opinion["mention"] not in ids:
            raise ReportProblem(f"report.opinions[{i}].mention {opinion['mention']!r} is no mention of the report")
    summarized = {summary["id"] for summary in data["brands"]}
    if not by_brand.keys() <= summarized:
        raise ReportProblem(f"report.brands: no summary for {sorted(by_brand.keys() - summarized)}")
    for i, summary in enumerate(data["brands"]):
        counts = by_brand.get(summary["id"], Counter())
        expected = {**counts, "total": sum(counts.values())}
        if summary["counts"] != expected:
            raise ReportProblem(f"report.brands[{i}].counts do not match the report's mentions of {summary['id']!r}")


def _spans(data: dict[str, Any]) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    """Every object with start/end/text, with its JSON path."""
    for i, m in enumerate(data["mentions"]):
        yield f"report.mentions[{i}]", m
        attribution = m["attribution"] or {}
        for key in ("anchors", "evidence"):
            for j, span in enumerate(attribution.get(key, ())):
                yield f"report.mentions[{i}].attribution.{key}[{j}]", span
    for i, o in enumerate(data["opinions"]):
        if o["aspect_span"] is not None:
            yield f"report.opinions[{i}].aspect_span", o["aspect_span"]
        for key in ("opinion_spans", "evidence"):
            for j, span in enumerate(o[key]):
                yield f"report.opinions[{i}].{key}[{j}]", span
    for i, b in enumerate(data["brands"]):
        for j, s in enumerate(b["sentiment"]):
            for key in ("strongest_positive", "strongest_negative"):
                if s[key] is not None:
                    yield f"report.brands[{i}].sentiment[{j}].{key}", s[key]


Checker = typing.Callable[[Any], None]


class _Wrong(Exception):
    """A value that does not fit; `where` grows from the value up to the report as it unwinds."""

    def __init__(self, message: str) -> None:
        self.message, self.where = message, ""

    def inside(self, step: str) -> _Wrong:
        self.where = step + self.where
        return self


def _check(kind: Any, value: Any, path: str) -> None:
    """`value` (parsed JSON) fits the annotation `kind`, else ReportProblem naming the JSON path."""
    try:
        _checker(kind)(value)
    except _Wrong as wrong:
        raise ReportProblem(f"{path}{wrong.where}: {wrong.message}") from None


@cache
def _checker(kind: Any) -> Checker:
    """A function that raises _Wrong unless its argument fits `kind`; built once per annotation,
    since a long report holds thousands of values."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        [inner] = [a for a in typing.get_args(kind) if a is not type(None)]  # report fields are `X | None`
        check_inner = _checker(inner)

        def optional(value: Any) -> None:
            if value is not None:
                check_inner(value)
        return optional
    if origin is typing.Literal:
        allowed = typing.get_args(kind)

        def literal(value: Any) -> None:
            if value not in allowed:
                raise _Wrong(f"{value!r} is not one of {', '.join(map(str, allowed))}")
        return literal
    if origin in (tuple, dict):
        check_item = _checker(typing.get_args(kind)[0 if origin is tuple else 1])

        def sequence(value: Any) -> None:
            if not isinstance(value, list):
                raise _Wrong(f"expected a list, got {type(value).__name__}")
            for i, item in enumerate(value):
                try:
                    check_item(item)
                except _Wrong as wrong:
                    raise wrong.inside(f"[{i}]") from None

        def mapping(value: Any) -> None:
            if not isinstance(value, dict):
                raise _Wrong(f"expected an object, got {type(value).__name__}")
            for name, item in value.items():
                try:
                    check_item(item)
                except _Wrong as wrong:
                    raise wrong.inside(f".{name}") from None
        return sequence if origin is tuple else mapping
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name: _checker(hints[f.name]) for f in dataclasses.fields(kind)}
        required = frozenset(
            f.name for f in dataclasses.fields(kind)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )

        def record(value: Any) -> None:
            if not isinstance(value, dict):
                raise _Wrong(f"expected an object, got {type(value).__name__}")
            if not required <= value.keys() or not value.keys() <= fields.keys():
                unknown, missing = sorted(value.keys() - fields.keys()), sorted(required - value.keys())
                raise _Wrong(f"unexpected fields {unknown}, missing {missing}")
            for name, item in value.items():
                try:
                    fields[name](item)
                except _Wrong as wrong:
                    raise wrong.inside(f".{name}") from None
        return record
    expected = {bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
                str: ((str,), "a string")}.get(kind)
    if expected is None:  # Any
        return lambda value: None
    types_, what = expected

    def scalar(value: Any) -> None:
        if not isinstance(value, types_) or (kind is not bool and isinstance(value, bool)):
            raise _Wrong(f"expected {what}, got {type(value).__name__}")
    return scalar
