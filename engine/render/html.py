"""The HTML view of reports: one self-contained page (CSS and JS inline, no network).

The page never receives markup built from document data. Python turns each report into a compact
*view* (brand colours, passage blocks, offsets in UTF-16 code units as JavaScript counts them) and
embeds it as JSON inside `<script type="application/json">` with every `<`, `>` and `&` escaped,
so neither `</script>` nor `<!--` in a document can end the data block. The script in
`assets/view.js` builds the DOM from it with `textContent` only, one block of text at a
time as it nears the viewport, so a 1 MB document opens without building all its spans upfront.
A Content-Security-Policy with the hashes of our own script and style is the second fence: even
if markup slipped through, no other script or event handler could run and nothing can be fetched.
"""
from __future__ import annotations

import base64
import bisect
import hashlib
import html
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from brandscan.engine.errors import BrandscanError
from brandscan.engine.report import SCHEMA

# Blocks are the unit of lazy rendering: big enough that a screen holds a few, small enough that
# building one (a few dozen spans) never stalls a scroll frame.
BLOCK_TARGET_CHARS = 2000
BLOCK_MAX_CHARS = 6000

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class RenderError(BrandscanError):
    """A file is not a brandscan report, or a report cannot be drawn (bad spans)."""


def _hue(brand_id: str) -> int:
    return int.from_bytes(hashlib.sha256(brand_id.encode("utf-8")).digest()[:2], "big") % 360


def _hsl(hue: int) -> str:
    # Saturation/lightness fixed so that every hue keeps dark text readable on a tint of it.
    return f"hsl({hue} 70% 45%)"


def brand_color(brand_id: str) -> str:
    """The colour of a brand: its hue comes from a hash of the id, so it is the same in every report."""
    return _hsl(_hue(brand_id))


# Two hues closer than this read as the same colour next to each other.
MIN_HUE_GAP = 28


def brand_colors(brand_ids: Sequence[str]) -> dict[str, str]:
    """Colours for the brands of one report: each keeps its own `brand_color` unless an earlier id
    (in sorted order) already took a hue too close to it; then it takes the nearest hue that keeps
    MIN_HUE_GAP from all taken ones (or the farthest from them). Past 360 / MIN_HUE_GAP brands the
    rest keep their own hues. The result depends on the set of ids only."""
    taken: list[int] = []
    colors = {}

    def gap(hue: int) -> int:
        return min((min(abs(hue - t), 360 - abs(hue - t)) for t in taken), default=360)

    for brand_id in sorted(set(brand_ids)):
        own = _hue(brand_id)
        if len(taken) >= 360 // MIN_HUE_GAP:  # the wheel is full: clashes cannot be avoided
            colors[brand_id] = _hsl(own)
            continue
        # Nearest first: own hue, then one degree either side, and so on round the wheel.
        candidates = [(own + d * sign) % 360 for d in range(181) for sign in (1, -1)]
        hue = next((h for h in candidates if gap(h) >= MIN_HUE_GAP), None)
        if hue is None:
            hue = max(candidates, key=gap)
        taken.append(hue)
        colors[brand_id] = _hsl(hue)
    return colors


def split_blocks(text: str, mentions: Sequence[tuple[int, int]] = ()) -> list[int]:
    """Block boundaries (code-point offsets, first 0, last len(text)) at line ends near the target
    size, never inside a mention span, so that a mention always lies in one block."""
    spans = sorted(mentions)
    starts = [s for s, _ in spans]
    bounds = [0]
    start = 0
    while len(text) - start > BLOCK_MAX_CHARS:
        cut = text.find("\n", start + BLOCK_TARGET_CHARS, start + BLOCK_MAX_CHARS)
        if cut < 0:  # one long paragraph: cut at a space, else anywhere
            cut = text.find(" ", start + BLOCK_TARGET_CHARS, start + BLOCK_MAX_CHARS)
        cut = start + BLOCK_MAX_CHARS if cut < 0 else cut + 1
        # Push the cut past every mention that straddles it; pushing can land inside another
        # (overlapping spans), so look again until none does. Mentions are short: a window of
        # the last 64 starts before the cut holds any that can reach it.
        moved = True
        while moved:
            moved = False
            i = bisect.bisect_left(starts, cut)
            for s, e in spans[max(0, i - 64) : i]:
                if s < cut < e:
                    cut, moved = e, True
        if cut >= len(text):
            break
        bounds.append(cut)
        start = cut
    if len(text) > 0:
        bounds.append(len(text))
    return bounds


def _utf16(text: str) -> Callable[[int], int]:
    """Map code-point offsets (Python, the report) to UTF-16 offsets (JavaScript strings)."""
    astral = [m.start() for m in _ASTRAL.finditer(text)]
    if not astral:
        return lambda i: i
    # Every astral character before offset i adds one code unit (it is a surrogate pair).
    return lambda i: i + bisect.bisect_left(astral, i)


def _span(raw: Any, where: str, length: int | None, conv: Callable[[int], int]) -> dict[str, Any]:
    try:
        start, end = raw["start"], raw["end"]
    except (TypeError, KeyError):
        raise RenderError(f"{where}: a span needs start and end") from None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
        raise RenderError(f"{where}: bad span {start!r}..{end!r}")
    if length is not None and end > length:
        raise RenderError(f"{where}: span {start}..{end} is past the end of the text ({length} chars)")
    out: dict[str, Any] = {"s": conv(start), "e": conv(end)}
    if length is None:  # with the document text at hand the page cuts span texts from it
        out["t"] = str(raw.get("text", ""))
    if "weight" in raw:
        out["w"] = float(raw["weight"] or 0.0)
    return out


def _list(report: dict[str, Any], key: str) -> list[Any]:
    value = report.get(key) or []
    if not isinstance(value, list):
        raise RenderError(f"report field {key!r} must be a list")
    return value


def check_report(data: Any, where: str) -> dict[str, Any]:
    """Accept a report dict (or an error record) of our schema, or say what it is not."""
    if not isinstance(data, dict):
        raise RenderError(f"{where}: not a brandscan report (a JSON {type(data).__name__}, expected an object)")
    schema = data.get("schema")
    if schema != SCHEMA:
        found = f"schema {schema!r}" if schema is not None else "no schema field"
        raise RenderError(f"{where}: not a brandscan report ({found}; expected {SCHEMA!r})")
    if "error" not in data and not isinstance(data.get("source"), str):
        raise RenderError(f"{where}: report has no source field")
    return data


def build_view(report: dict[str, Any]) -> dict[str, Any]:
    """The compact, offset-converted form of one report that the page's script draws."""
    check_report(report, "report")
    if "error" in report:
        return {"source": str(report.get("source", "")), "error": str(report["error"])}
    text = report.get("text")
    if text is not None and not isinstance(text, str):
        raise RenderError("report field 'text' must be a string")
    length = len(text) if text is not None else None
    conv = _utf16(text) if text is not None else (lambda i: i)

    brands = _list(report, "brands")
    brand_index = {str(b.get("id")): i for i, b in enumerate(brands)}
    checked = [(m, _span(m, f"mention {m.get('id')!r}", length, conv)) for m in _list(report, "mentions")]
    # Outer spans first where two start together: the page nests mentions in this order.
    checked.sort(key=lambda pair: (pair[1]["s"], -pair[1]["e"]))
    mention_index = {str(m.get("id")): i for i, (m, _) in enumerate(checked)}

    view_mentions = []
    for m, vm in checked:
        where = f"mention {m.get('id')!r}"
        vm.update(id=str(m.get("id")), b=brand_index.get(m.get("brand"), -1), k=str(m.get("kind", "")))
        vm.update(p=m.get("passage"), pr=m.get("probability"), g=bool(m.get("is_global")))
        alt = m.get("alternative")
        if alt:
            vm["alt"] = {"b": brand_index.get(alt.get("brand"), -1), "pr": alt.get("probability")}
        attribution = m.get("attribution")
        if attribution:
            anchors = []
            for a in attribution.get("anchors") or []:
                va = _span(a, f"{where} anchor", length, conv)
                va.update(m=mention_index.get(a.get("mention"), -1), p=a.get("passage"), w=float(a.get("weight") or 0.0))
                anchors.append(va)
            evidence = [_span(ev, f"{where} evidence", length, conv) for ev in attribution.get("evidence") or []]
            vm["at"] = {"method": str(attribution.get("method", "")), "anchors": anchors, "evidence": evidence}
        view_mentions.append(vm)

    view_opinions = []
    for o in _list(report, "opinions"):
        where = f"opinion {o.get('id')!r}"
        view_opinions.append({
            "id": str(o.get("id")),
            "b": brand_index.get(o.get("brand"), -1),
            "aspect": str(o.get("aspect_name") or o.get("aspect", "")),  # the catalogue's name, shown
            "pol": str(o.get("polarity", "neutral")),
            "score": o.get("score"),
            "as": None if o.get("aspect_span") is None else _span(o.get("aspect_span"), f"{where} aspect", length, conv),
            "os": [_span(s, f"{where} opinion", length, conv) for s in o.get("opinion_spans") or []],
            "m": mention_index.get(o.get("mention"), -1),
        })

    colors = brand_colors([str(b.get("id")) for b in brands])
    view_brands = [
        {
            "id": str(b.get("id")),
            "name": str(b.get("name", b.get("id"))),
            "cat": b.get("category"),
            "color": colors[str(b.get("id"))],
            "counts": {str(k): int(v) for k, v in (b.get("counts") or {}).items()},
            "net": b.get("net_sentiment"),
            "aspects": [
                {k: a.get(k) for k in ("aspect", "name", "positive", "negative", "neutral", "mean_score")}
                for a in b.get("sentiment") or []
            ],
        }
        for b in brands
    ]
    model = report.get("model") or {}
    blocks = []
    if text is not None:
        blocks = [conv(i) for i in split_blocks(text, [(m["start"], m["end"]) for m, _ in checked])]
    return {
        "source": report["source"],
        "sha256": report.get("sha256"),
        "model": model.get("name"),
        "stats": report.get("stats") or {},
        "warnings": [str(w) for w in _list(report, "warnings")],
        "text": text,
        "blocks": blocks,
        "brands": view_brands,
        "mentions": view_mentions,
        "opinions": view_opinions,
    }


def attach_text(report: dict[str, Any], text: str, where: str = "text") -> dict[str, Any]:
    """The report with `text` put in, for a report written without --include-text. Every mention
    span must read the same in `text`, so the wrong document (or an edited one) is refused."""
    for m in _list(report, "mentions"):
        start, end = m.get("start"), m.get("end")
        if not (isinstance(start, int) and isinstance(end, int)) or text[start:end] != m.get("text"):
            raise RenderError(
                f"{where} is not the document of this report: mention {m.get('id')!r} reads "
                f"{text[start:end]!r} there, the report says {m.get('text')!r}"
            )
    return {**report, "text": text}


def embed_json(value: Any) -> str:
    """JSON that is safe inside a `<script>` element: no `<`, `>` or `&` survives unescaped, so
    `</script>` and `<!--` cannot occur; U+2028/9 are escaped for old JavaScript parsers."""
    raw = orjson.dumps(value).decode("utf-8")
    return (
        raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _asset(name: str) -> str:
    return resources.files("brandscan.engine.render").joinpath("assets", name).read_text("utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def render_html_many(reports: Sequence[dict[str, Any]]) -> str:
    """Several reports (error records included) in one page with a document switcher."""
    if not reports:
        raise RenderError("nothing to render: no reports")
    views = []
    for n, report in enumerate(reports, 1):
        try:
            views.append(build_view(report))
        except (RenderError, TypeError, ValueError, AttributeError, KeyError) as error:
            # A hand-edited or truncated report: say where, without a traceback.
            where = f"record {n}: " if len(reports) > 1 else ""
            raise RenderError(f"{where}malformed report: {error}") from None
    css, js = _asset("view.css"), _asset("view.js")
    title = views[0]["source"] if len(views) == 1 else f"{len(views)} documents"
    csp = f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}"
    values = {
        "title": html.escape(f"brandscan: {title}"),
        "csp": html.escape(csp),
        "css": css,
        "js": js,
        "data": embed_json({"schema": SCHEMA, "documents": views}),
    }
    # One pass: text substituted in (a source name, the data) is never scanned for placeholders.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("page.html"))


def render_html(report: dict[str, Any]) -> str:
    """One report dict (as `report.to_dict` gives or JSON loads) -> a self-contained HTML page."""
    return render_html_many([report])


def load_reports(path: str | Path, data: bytes | None = None) -> list[dict[str, Any]]:
    """Read a report file: one JSON object, or JSON Lines with one report (or error record) a
    line. `data` stands in for the file's bytes (stdin). Errors name the file and the line."""
    name = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise RenderError(f"{name}: cannot read: {error.strerror or error}") from None
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(data.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise RenderError(f"{name}: not valid JSON: {whole_error}") from None
        records = []
        for n, line in lines:
            try:
                records.append(check_report(orjson.loads(line), f"{name}:{n}"))
            except orjson.JSONDecodeError as error:
                raise RenderError(f"{name}:{n}: not valid JSON: {error}") from None
        return records
    return [check_report(whole, name)]
