"""The HTML builder and `brandscan render`: safety, offsets, blocks, colours, files and errors."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine import report as schema
from brandscan.engine.render.html import (
    BLOCK_MAX_CHARS,
    MIN_HUE_GAP,
    RenderError,
    attach_text,
    brand_color,
    brand_colors,
    build_view,
    embed_json,
    load_reports,
    render_html,
    render_html_many,
    split_blocks,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
BRANDSCAN = Path(sys.executable).with_name("brandscan")
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text("utf-8"))


class Page(HTMLParser):
    """What a browser's parser would make of the page: tags, attributes, script and title text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.title = ""
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "title":
            self.title += data


# ---- the fixtures follow the schema exactly ---------------------------------------------------

def _check_fields(value: Any, cls: type, where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(value) <= names and set(value) >= {f.name for f in dataclasses.fields(cls)
                                                  if f.default is dataclasses.MISSING
                                                  and f.default_factory is dataclasses.MISSING}, where


@pytest.mark.parametrize("name", ["trail-notes.json", "xss.json"])
def test_fixtures_follow_the_report_schema_and_spans_match_the_text(name: str) -> None:
    report = load(name)
    text = report["text"]
    _check_fields(report, schema.Report, name)
    for m in report["mentions"]:
        _check_fields(m, schema.Mention, m["id"])
        assert text[m["start"] : m["end"]] == m["text"]
        for a in (m["attribution"] or {}).get("anchors", []):
            _check_fields(a, schema.Anchor, m["id"])
            assert text[a["start"] : a["end"]] == a["text"]
        for ev in (m["attribution"] or {}).get("evidence", []):
            _check_fields(ev, schema.WeightedSpan, m["id"])
            assert text[ev["start"] : ev["end"]] == ev["text"]
    for o in report["opinions"]:
        _check_fields(o, schema.Opinion, o["id"])
        for s in [s for s in [o["aspect_span"], *o["opinion_spans"]] if s is not None]:
            assert text[s["start"] : s["end"]] == s["text"]
    for b in report["brands"]:
        _check_fields(b, schema.BrandSummary, b["id"])
        assert b["counts"]["total"] == sum(1 for m in report["mentions"] if m["brand"] == b["id"])


# ---- safety ---------------------------------------------------------------------------------

def test_injected_markup_in_text_and_names_stays_data() -> None:
    html = render_html(load("xss.json"))
    page = Page(html)
    # The only elements are the template's own: nothing from the report became a tag.
    template_tags = {t for t, _ in Page(render_html(load("trail-notes.json"))).tags}
    assert {t for t, _ in page.tags} == template_tags
    assert "img" not in template_tags
    assert len(page.scripts) == 2 and [a.get("type") for t, a in page.tags if t == "script"] == ["application/json", None]
    assert not [(t, k) for t, attrs in page.tags for k in attrs if k.startswith("on")]
    # Raw payloads never appear in the bytes; the data block parses back to them exactly.
    for payload in (XSS_SCRIPT, XSS_IMG, "</script><script>alert(5)</script>", "<svg onload", "<!--"):
        assert payload not in html
    assert html.count("<script") == 2 and html.count("</script>") == 2
    data = json.loads(page.scripts[0])
    doc = data["documents"][0]
    assert XSS_SCRIPT in doc["text"] and XSS_IMG in doc["text"] and "{{data}}" in doc["text"]
    assert doc["brands"][0]["name"] == "<img src=x onerror=alert(2)>Acme</b>"
    assert page.title == 'brandscan: "><script>alert(3)</script>{{title}}.txt'


def test_csp_allows_exactly_our_script_and_style_and_no_network() -> None:
    html = render_html(load("trail-notes.json"))
    page = Page(html)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    script = page.scripts[1]
    style = html[html.index("<style>") + 7 : html.index("</style>")]

    def digest(source: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"

    assert csp == f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}"
    # Nothing to fetch: no src/href attributes, no CSS imports or urls.
    assert not [(t, a) for t, a in page.tags if "src" in a or "href" in a]
    assert "@import" not in style and "url(" not in style


def test_embed_json_cannot_close_the_script_element() -> None:
    value = {"a": "</script><!-- & \u2028 <b>", "n": [1, 2.5, None]}
    out = embed_json(value)
    assert not set(out) & {"<", ">", "&", "\u2028"}
    assert json.loads(out) == value


# ---- the view model ---------------------------------------------------------------------------

def test_offsets_are_converted_to_utf16_code_units() -> None:
    report = load("trail-notes.json")
    view = build_view(report)
    units = report["text"].encode("utf-16-le")
    assert "\U0001f3d4" in report["text"]  # astral characters before most mentions
    by_id = {m["id"]: m for m in report["mentions"]}
    for vm in view["mentions"]:
        assert units[2 * vm["s"] : 2 * vm["e"]].decode("utf-16-le") == by_id[vm["id"]]["text"]
        for ev in (vm.get("at") or {}).get("evidence", []):
            assert "t" not in ev  # the page cuts span texts from the document itself
    far = next(vm for vm in view["mentions"] if vm["id"] == "m10")
    assert [view["mentions"][a["m"]]["id"] for a in far["at"]["anchors"]] == ["m1", "m2"]
    assert view["blocks"][-1] == len(units) // 2


def test_blocks_cover_the_text_at_line_ends_and_never_cut_a_mention() -> None:
    report = load("trail-notes.json")
    text = report["text"]
    spans = [(m["start"], m["end"]) for m in report["mentions"]]
    bounds = split_blocks(text, spans)
    assert bounds[0] == 0 and bounds[-1] == len(text) and bounds == sorted(set(bounds))
    assert len(bounds) > 4
    for cut in bounds[1:-1]:
        assert text[cut - 1] == "\n"
        assert not any(s < cut < e for s, e in spans)
    # One paragraph with no line ends: cut at spaces, and pushed past a mention on the cut.
    long = "word " * 3000
    at = long.index(" ", 2000) + 1
    bounds = split_blocks(long, [(at - 3, at + 8)])
    assert bounds[1] == at + 8 and all(b - a <= BLOCK_MAX_CHARS + 8 for a, b in itertools.pairwise(bounds))
    assert split_blocks("") == [0]
    # A mention running to the end of the text across the cut: one block, no repeated bound.
    text = "x" * 2500 + "\n" + "y" * 5000
    assert split_blocks(text, [(2400, len(text))]) == [0, len(text)]


def test_brand_colours_depend_on_the_id_and_stay_apart() -> None:
    assert brand_color("northpeak") == brand_color("northpeak") != brand_color("kestrel")
    ids = [f"brand-{i}" for i in range(6)]  # 6 always fit: each blocks under 2 * MIN_HUE_GAP of 360
    colors = brand_colors(ids)
    assert colors == brand_colors(list(reversed(ids)))
    hues = [int(re.match(r"hsl\((\d+) ", c).group(1)) for c in colors.values()]
    gaps = [min(abs(a - b), 360 - abs(a - b)) for i, a in enumerate(hues) for b in hues[i + 1 :]]
    assert min(gaps) >= MIN_HUE_GAP
    # A brand keeps its own colour when nothing clashes with it.
    assert brand_colors(["northpeak"]) == {"northpeak": brand_color("northpeak")}
    crowded = brand_colors([f"b{i}" for i in range(500)])  # past a full wheel: own hues, and quick
    assert crowded["b99"] == brand_color("b99") and len(crowded) == 500


def test_report_without_text_still_lists_brands_and_mentions() -> None:
    report = load("trail-notes.json")
    del report["text"]
    view = build_view(report)
    assert view["text"] is None and view["blocks"] == []
    assert [m["t"] for m in view["mentions"]][:2] == ["Northpeak", "Summit 45"]
    html = render_html(report)
    assert "Northpeak" in Page(html).scripts[0]


def test_bad_spans_and_non_reports_are_user_errors() -> None:
    report = load("trail-notes.json")
    report["mentions"][3]["end"] = len(report["text"]) + 5
    with pytest.raises(RenderError, match="mention 'm4'.*past the end"):
        render_html(report)
    with pytest.raises(RenderError, match="not a brandscan report"):
        render_html({"hello": "world"})
    with pytest.raises(RenderError, match="record 2: malformed report"):
        render_html_many([load("xss.json"), {**load("xss.json"), "mentions": [{"id": "m1", "start": "x"}]}])


def test_error_records_render_as_documents_that_failed() -> None:
    view = build_view({"schema": schema.SCHEMA, "source": "a.txt", "error": "cannot decode"})
    assert view == {"source": "a.txt", "error": "cannot decode"}


# ---- files and the command -------------------------------------------------------------------

def test_load_reports_reads_json_and_json_lines(tmp_path: Path) -> None:
    one = load("xss.json")
    lines = tmp_path / "many.jsonl"
    lines.write_text(json.dumps(one) + "\n\n" + json.dumps({"schema": schema.SCHEMA, "source": "b", "error": "x"}) + "\n")
    assert [r["source"] for r in load_reports(lines)] == [one["source"], "b"]
    assert load_reports(FIXTURES / "xss.json") == [one]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(one) + "\n{oops\n")
    with pytest.raises(RenderError, match=r"bad.jsonl:2: not valid JSON"):
        load_reports(bad)
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/2"}')
    with pytest.raises(RenderError, match=r"other.json: not a brandscan report \(schema 'something/2'"):
        load_reports(other)
    with pytest.raises(RenderError, match="missing.json: cannot read"):
        load_reports(tmp_path / "missing.json")


def test_render_command_writes_a_page_or_stdout(tmp_path: Path) -> None:
    out = tmp_path / "view.html"
    result = CliRunner().invoke(app, ["render", str(FIXTURES / "trail-notes.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text("utf-8") == render_html(load("trail-notes.json"))
    result = CliRunner().invoke(app, ["render", "-"], input=(FIXTURES / "xss.json").read_bytes())
    assert result.exit_code == 0 and result.stdout == render_html(load("xss.json"))


def test_render_command_picks_one_record_of_json_lines_or_renders_all(tmp_path: Path) -> None:
    lines = tmp_path / "all.jsonl"
    lines.write_text("\n".join(json.dumps(load(n)) for n in ("trail-notes.json", "xss.json")) + "\n")
    result = CliRunner().invoke(app, ["render", str(lines), "--index", "2"])
    assert result.exit_code == 0 and result.stdout == render_html(load("xss.json"))
    result = CliRunner().invoke(app, ["render", str(lines)])
    assert json.loads(Page(result.stdout).scripts[0])["documents"][1]["source"] == load("xss.json")["source"]


def test_render_command_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    not_json = tmp_path / "notes.json"
    not_json.write_text("this is not json")
    no_text = tmp_path / "no-text.json"
    report = load("trail-notes.json")
    del report["text"]
    no_text.write_text(json.dumps(report))
    lines = tmp_path / "two.jsonl"
    lines.write_text(json.dumps(load("xss.json")) + "\n" + json.dumps(load("xss.json")) + "\n")
    runs = [
        subprocess.run([str(BRANDSCAN), "render", str(not_json)], capture_output=True, text=True, check=False),
        subprocess.run([str(BRANDSCAN), "render", str(lines), "--index", "3"], capture_output=True, text=True, check=False),
    ]
    for run in runs:
        assert run.returncode == 2 and run.stdout == "" and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    assert runs[0].stderr.startswith(f"brandscan: error: {not_json}: not valid JSON")
    assert "--index 3 is out of range (the file holds 2)" in runs[1].stderr
    result = CliRunner().invoke(app, ["render", str(no_text), "-o", str(tmp_path / "v.html")])
    assert result.exit_code == 0
    assert "has no text (analyze with --include-text)" in result.stderr


def test_text_can_be_attached_from_the_document_when_it_matches(tmp_path: Path) -> None:
    report = load("trail-notes.json")
    text = report.pop("text")
    assert attach_text(report, text)["text"] == text
    with pytest.raises(RenderError, match="wrong.txt is not the document of this report: mention 'm1'"):
        attach_text(report, text.replace("Northpeak", "Southpeak"), "wrong.txt")
    (tmp_path / "r.json").write_text(json.dumps(report))
    (tmp_path / "doc.txt").write_bytes(text.encode("utf-8"))
    result = CliRunner().invoke(app, ["render", str(tmp_path / "r.json"), "--text", str(tmp_path / "doc.txt")])
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert result.stdout == render_html(load("trail-notes.json"))
