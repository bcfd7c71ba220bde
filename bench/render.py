"""The HTML view of a 1 MB document in headless Chromium: open, paint, scroll, block builds.

    .venv/bin/python bench/render.py            # needs chromium (`make browser` installs it)

The peer, measured in the same run and browser, is the same text as a plain `<pre>` page: the
browser's own floor for laying out a megabyte of text. Moved here from tests/test_render_browser.py,
whose timing bound (block build < 50 ms) failed on a loaded machine; the test keeps the lazy-build
checks that make the view fast. Writes test-artifacts/render-timings.json.
"""
from __future__ import annotations

import argparse
import html
import importlib
import json
import shutil
import sys
import time
from pathlib import Path

from brandscan.engine.render.html import render_html

ROOT = Path(__file__).resolve().parents[1]


def _browser_helpers():  # type: ignore[no-untyped-def]
    # The DevTools client (tests/devtools.py) and the 1 MB report (the browser test) live in tests/.
    sys.path.insert(0, str(ROOT / "tests"))
    return importlib.import_module("devtools"), importlib.import_module("test_render_browser")


def _scroll_ms(cdp) -> list[float]:  # type: ignore[no-untyped-def]
    return cdp.js(
        "(async () => { const d = document.getElementById('doc') || document.scrollingElement; const out = [];"
        " for (let i = 0; i < 60; i++) { const t = performance.now(); d.scrollTop += d.clientHeight;"
        " await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));"
        " out.push(performance.now() - t); } return out; })()"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1_000_000)
    args = parser.parse_args()
    helpers, browser_test = _browser_helpers()
    executable = helpers.CHROMIUM or shutil.which("chromium")
    if executable is None:
        raise SystemExit("chromium is not installed (`make browser` installs Debian's chromium)")
    report = browser_test._big_report(args.chars)
    started = time.perf_counter()
    view = render_html(report)
    render_s = time.perf_counter() - started
    plain = f"<!doctype html><meta charset=utf-8><pre>{html.escape(report['text'])}</pre>"
    rows = []
    with helpers.chromium(executable) as cdp:
        for name, page in (("plain <pre> (peer)", plain), ("brandscan view", view)):
            path = helpers.write_page(f"bench-{name.split()[0].strip('<')}.html", page)
            load_s = helpers.open_page(cdp, path)
            fcp = cdp.js("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
            frames = sorted(_scroll_ms(cdp))
            build = cdp.js("window.brandscanView ? brandscanView.buildMs() : []") or [0.0]
            rows.append({
                "page": name, "html_bytes": len(page.encode()), "load_s": round(load_s, 3),
                "first_paint_ms": round(fcp, 1) if fcp else None,
                "scroll_step_ms_median": round(frames[len(frames) // 2], 1),
                "scroll_step_ms_max": round(frames[-1], 1), "block_build_ms_max": round(max(build), 2),
            })
    print(f"render_html: {render_s:.3f} s for {len(report['text']):,} characters, {len(report['mentions']):,} mentions")
    print(f"{'page':<20} {'HTML bytes':>11} {'load s':>7} {'paint ms':>9} {'scroll med':>10} {'scroll max':>10} {'build max':>9}")
    for r in rows:
        print(f"{r['page']:<20} {r['html_bytes']:>11,} {r['load_s']:>7} {r['first_paint_ms']!s:>9} "
              f"{r['scroll_step_ms_median']:>10} {r['scroll_step_ms_max']:>10} {r['block_build_ms_max']:>9}")
    out = ROOT / "test-artifacts" / "render-timings.json"
    out.write_text(json.dumps({"render_html_s": round(render_s, 3), "pages": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
