"""The rendered view in a real headless Chromium, driven over the DevTools protocol.

Run by `make browser-test` (which installs Debian's chromium when it is missing, and makes a
missing browser a failure); elsewhere skipped with a reason when no chromium is installed. Chromium runs with no network and a fresh profile; the
DevTools websocket client is the small one in tests/devtools.py (stdlib only), so no extra dependency is needed.
Screenshots go to test-artifacts/; timings are measured by bench/render.py, not here. With BRANDSCAN_SCREENSHOT_TO=path the screenshot of
the shipped example is also written there: `BRANDSCAN_SCREENSHOT_TO=docs/render-screenshot.png
make browser-test` refreshes the one in the docs.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools import (
    CHROMIUM,
    IN_VIEW,
    ROOT,
    DevTools,
    center,
    chromium,
    click,
    key,
    open_page,
    screenshot,
    write_page,
)

from brandscan.engine.render.html import attach_text, load_reports, render_html, render_html_many

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"



@pytest.fixture(scope="module")
def browser() -> Iterator[DevTools]:
    if CHROMIUM is None:
        reason = "chromium is not installed (`make browser-test` installs Debian's chromium)"
        # `make browser-test` sets BRANDSCAN_REQUIRE_BROWSER: there a missing browser is a failure.
        if os.environ.get("BRANDSCAN_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    with chromium(CHROMIUM) as cdp:
        yield cdp


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def test_click_far_linked_mention_shows_anchor_and_evidence(browser: DevTools) -> None:
    page = write_page("trail-notes.html", render_html(_load("trail-notes.json")))
    open_page(browser, page)
    assert browser.js("brandscanView.builtBlocks() < brandscanView.totalBlocks()"), "blocks are built lazily"
    # "the makers" (m10) sits in the last passage; its anchor Northpeak (m1) is in the second, pages up.
    browser.js("document.getElementById('doc').scrollTop = 1e9")
    browser.js("new Promise(r => setTimeout(r, 100))")
    click(browser, *center(browser, "[data-id='m10']"))
    assert browser.js("brandscanView.selected()") == "m10"
    assert browser.js("document.querySelector(\"[data-id='m1']\").classList.contains('is-anchor')")
    assert browser.js(f"{IN_VIEW}('m1')"), "the anchor was scrolled into view"
    assert not browser.js(f"{IN_VIEW}('m10')"), "the fixture puts the anchor pages away from the mention"
    assert browser.js("brandscanView.evidenceRanges()") == 4
    # The connector is drawn from the mention to the anchor, and a pill points back to the mention.
    assert browser.js("document.querySelectorAll('#links path').length") == 2
    jump = browser.js("(() => { const j = document.getElementById('jump'); return j.hidden ? null : j.textContent; })()")
    assert jump is not None and "the makers" in jump and jump.startswith("\u2193")
    details = browser.js("document.getElementById('details').innerText")
    assert "Northpeak" in details and "weight 0.74" in details and "worn buckle" in details
    screenshot(browser, "render-attribution.png")
    # The pill takes you back to the linked mention.
    click(browser, *center(browser, "#jump"))
    assert browser.js(f"{IN_VIEW}('m10')")
    assert browser.dialogs() == [] and browser.exceptions() == []


def test_keyboard_and_hover(browser: DevTools) -> None:
    page = write_page("trail-notes.html", render_html(_load("trail-notes.json")))
    open_page(browser, page)
    for _ in range(4):  # m1 Northpeak, m2 Summit 45, m3 The company, m4 They
        key(browser, "j")
    assert browser.js("document.querySelector('.m.is-current').dataset.id") == "m4"
    key(browser, "k")
    key(browser, "Enter")
    assert browser.js("brandscanView.selected()") == "m3"
    assert browser.js("brandscanView.evidenceRanges()") == 3
    key(browser, "Escape")
    assert browser.js("brandscanView.selected()") is None
    # Hover previews the attribution of "it" (m7) without a click; leaving it clears the preview.
    x, y = center(browser, "[data-id='m7']")
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    assert browser.js("brandscanView.selected()") == "m7"
    assert browser.js("document.querySelector(\"[data-id='m5']\").classList.contains('is-anchor')")
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=450)
    assert browser.js("brandscanView.selected()") is None
    assert browser.exceptions() == []


def test_injection_renders_as_text_and_fires_nothing(browser: DevTools) -> None:
    page = write_page("xss.html", render_html(_load("xss.json")))
    open_page(browser, page)
    click(browser, *center(browser, "[data-id='m3']"))  # its evidence spans are the payloads
    browser.js("new Promise(r => setTimeout(r, 300))")  # time for an onerror to fire, if it could
    assert browser.dialogs() == [] and browser.exceptions() == []
    text = browser.js("document.getElementById('text').innerText")
    assert "<script>alert(1)</script>" in text and '"><img src=x onerror=alert(1)>' in text
    assert "</script> of document" in text
    assert browser.js("document.querySelectorAll('img, svg:not(#links), iframe, object').length") == 0
    assert browser.js("document.scripts.length") == 2
    assert "<img src=x onerror=alert(2)>Acme</b>" in browser.js("document.getElementById('brands').innerText")
    assert browser.js("document.title") == 'brandscan: "><script>alert(3)</script>{{title}}.txt'
    assert browser.js("window.__csp") == []
    screenshot(browser, "render-xss.png")
    assert browser.exceptions() == []


def _big_report(target_chars: int) -> dict[str, Any]:
    """A 1 MB document as dense as a review thread: the opening of trail-notes (two reviews and a
    day of walking, 7 mentions and 6 opinions in 800 characters) repeated, every span shifted."""
    base = _load("trail-notes.json")
    unit = base["text"][: base["text"].index("Day 4.")]
    n = len(unit)
    mentions = [m for m in base["mentions"] if m["end"] <= n]
    opinions = [o for o in base["opinions"] if o["aspect_span"]["end"] <= n]

    def shift(obj: Any, by: int, i: int) -> Any:
        if isinstance(obj, dict):
            out = {k: shift(v, by, i) for k, v in obj.items()}
            if "start" in obj and "end" in obj:
                out["start"], out["end"] = obj["start"] + by, obj["end"] + by
            for key in ("id", "mention"):  # ids stay unique: m3 of copy 7 is m3_7
                if isinstance(obj.get(key), str):
                    out[key] = f"{obj[key]}_{i}"
            return out
        if isinstance(obj, list):
            return [shift(v, by, i) for v in obj]
        return obj

    copies = max(1, target_chars // n)
    report = dict(base, text=unit * copies, mentions=[], opinions=[])
    for i in range(copies):
        report["mentions"] += shift(mentions, i * n, i)
        report["opinions"] += shift(opinions, i * n, i)
    return report


def test_one_megabyte_document_builds_lazily(browser: DevTools) -> None:
    # How fast is bench/render.py's business (timings fail by load, not by a defect); this checks
    # what makes it fast: blocks are built as they scroll into view, not all at open.
    open_page(browser, write_page("big.html", render_html(_big_report(1_000_000))))
    assert browser.js("performance.getEntriesByName('brandscan-painted').length") == 1
    total = browser.js("brandscanView.totalBlocks()")
    built_at_open = browser.js("brandscanView.builtBlocks()")
    assert total > 300 and built_at_open < 10, (total, built_at_open)
    browser.js(
        "(async () => { const d = document.getElementById('doc');"
        " for (let i = 0; i < 60; i++) { d.scrollTop += d.clientHeight;"
        " await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); } })()"
    )
    browser.js("document.getElementById('doc').scrollTop = 1e9")
    browser.js("new Promise(r => setTimeout(r, 200))")
    assert built_at_open < browser.js("brandscanView.builtBlocks()") < total / 2
    screenshot(browser, "render-big.png")
    assert browser.exceptions() == []


def test_document_switcher(browser: DevTools) -> None:
    reports = [_load("trail-notes.json"), {"schema": "brandscan.report/2", "source": "bad.txt", "error": "boom"},
               _load("xss.json")]
    open_page(browser, write_page("many.html", render_html_many(reports)))
    assert browser.js("document.getElementById('switcher').options.length") == 3
    browser.js("(() => { const s = document.getElementById('switcher'); s.value = '1';"
               " s.dispatchEvent(new Event('change')); })()")
    assert "boom" in browser.js("document.getElementById('notices').innerText")
    browser.js("(() => { const s = document.getElementById('switcher'); s.value = '2';"
               " s.dispatchEvent(new Event('change')); })()")
    browser.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert "Acme" in browser.js("document.getElementById('text').innerText")
    assert browser.dialogs() == [] and browser.exceptions() == []


def _shipped_example() -> dict[str, Any]:
    """The first shipped example report with linked mentions (examples/reports/), its text taken
    from the example document when the report was written without it; else the fixture."""
    for path in sorted((ROOT / "examples" / "reports").glob("*.json")):
        report = load_reports(path)[0]
        if not any((m.get("attribution") or {}).get("anchors") for m in report.get("mentions", [])):
            continue
        if report.get("text") is None:
            source = ROOT / report["source"]
            if source.suffix not in {".txt", ".md"} or not source.exists():
                continue  # an HTML page's text is what the reader extracted, not the file
            report = attach_text(report, source.read_bytes().decode("utf-8"), str(source))
        return report
    return _load("trail-notes.json")


def test_screenshot_of_a_shipped_example(browser: DevTools) -> None:
    report = _shipped_example()
    open_page(browser, write_page("example.html", render_html(report)))
    # Show the link that reaches farthest back: the case the view is for.
    linked = [m for m in report["mentions"] if (m.get("attribution") or {}).get("anchors")]
    far = max(linked, key=lambda m: max(abs(m["start"] - a["start"]) for a in m["attribution"]["anchors"]))
    assert browser.js(f"brandscanView.reveal({json.dumps(far['id'])})")
    browser.js("new Promise(r => setTimeout(r, 100))")
    click(browser, *center(browser, f"[data-id={json.dumps(far['id'])}]"))
    assert browser.js("brandscanView.selected()") == far["id"]
    assert browser.js("document.querySelectorAll('.m.is-anchor').length") >= 1
    shot = screenshot(browser, "render-example.png")
    if os.environ.get("BRANDSCAN_SCREENSHOT_TO"):
        shutil.copyfile(shot, ROOT / os.environ["BRANDSCAN_SCREENSHOT_TO"])
    assert browser.dialogs() == [] and browser.exceptions() == []
