"""The rendered view in a real headless Chromium, driven over the DevTools protocol.

Run by `make browser-test` (which installs Debian's chromium when it is missing, and makes a
missing browser a failure); elsewhere skipped with a reason when no chromium is installed. Chromium runs with no network and a fresh profile; the
DevTools websocket client is the small one below (stdlib only), so no extra dependency is needed.
Screenshots go to test-artifacts/; timings are measured by bench/render.py, not here. With BRANDSCAN_SCREENSHOT_TO=path the screenshot of
the shipped example is also written there: `BRANDSCAN_SCREENSHOT_TO=docs/render-screenshot.png
make browser-test` refreshes the one in the docs.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from brandscan.engine.render import attach_text, load_reports, render_html, render_html_many

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)



class DevTools:
    """A minimal DevTools client: one websocket (RFC 6455 text frames), flat sessions."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            data += chunk
        return data

    def _send(self, payload: bytes, opcode: int = 0x1) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        # Client frames must be masked (RFC 6455 5.3).
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _message(self) -> dict[str, Any]:
        parts = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)  # servers never mask
            opcode = b0 & 0x0F
            if opcode == 0x9:
                self._send(payload, 0xA)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            parts.append(payload)
            if b0 & 0x80:
                return json.loads(b"".join(parts))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        self._send(json.dumps(msg).encode())
        while True:
            reply = self._message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        # An open dialog blocks the page; record it, then dismiss it so the test can fail cleanly.
        if event.get("method") == "Page.javascriptDialogOpening":
            self.call("Page.handleJavaScriptDialog", accept=False)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e.get("method") == method:
                    self.events.remove(e)
                    return e
            self._event(self._message())
        raise TimeoutError(method)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def dialogs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("method") == "Page.javascriptDialogOpening"]

    def exceptions(self) -> list[str]:
        """Uncaught exceptions in the page's script since the last navigation."""
        return [e["params"]["exceptionDetails"].get("exception", {}).get("description", "?")
                for e in self.events if e.get("method") == "Runtime.exceptionThrown"]


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


@contextmanager
def chromium(executable: str) -> Iterator[DevTools]:
    """A headless Chromium with no network and a fresh profile, driven over DevTools (also used by
    bench/render.py)."""
    profile = tempfile.mkdtemp(prefix="brandscan-chromium-")
    args = [
        executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
        # No network at all: every host resolves nowhere (file:// pages still load).
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1400,900", "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        cdp = DevTools(f"ws://127.0.0.1:{port}{path}")
        target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
        cdp.session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        cdp.call("Page.enable")
        cdp.call("Runtime.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        # Injected before any page script (CDP scripts are not subject to the page's CSP): records
        # CSP violations, which would mean markup from the data reached the DOM.
        cdp.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"))
        yield cdp
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(profile, ignore_errors=True)


def _open(cdp: DevTools, page: Path) -> float:
    """Navigate and wait for load; returns seconds from navigation to the load event."""
    t0 = time.monotonic()
    cdp.events.clear()
    cdp.call("Page.navigate", url=page.as_uri())
    cdp.wait_for("Page.loadEventFired", timeout=60)
    cdp.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return time.monotonic() - t0


def _write_page(name: str, html: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(html, encoding="utf-8")
    return path


def _screenshot(cdp: DevTools, name: str) -> Path:
    data = base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"])
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path


def _center(cdp: DevTools, selector: str) -> tuple[float, float]:
    rect = cdp.js(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
    )
    cdp.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return rect[0], rect[1]


def _click(cdp: DevTools, x: float, y: float) -> None:
    cdp.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    for kind in ("mousePressed", "mouseReleased"):
        cdp.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
    cdp.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _key(cdp: DevTools, key: str) -> None:
    code = {"Enter": 13, "Escape": 27}[key] if len(key) > 1 else ord(key.upper())
    for kind in ("keyDown", "keyUp"):
        cdp.call("Input.dispatchKeyEvent", type=kind, key=key, windowsVirtualKeyCode=code)
    cdp.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


IN_VIEW = (
    "(id => { const e = document.querySelector(`[data-id='${id}']`); if (!e) return false;"
    " const r = e.getBoundingClientRect(), v = document.getElementById('doc').getBoundingClientRect();"
    " return r.top >= v.top && r.bottom <= v.bottom; })"
)


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def test_click_far_linked_mention_shows_anchor_and_evidence(browser: DevTools) -> None:
    page = _write_page("trail-notes.html", render_html(_load("trail-notes.json")))
    _open(browser, page)
    assert browser.js("brandscanView.builtBlocks() < brandscanView.totalBlocks()"), "blocks are built lazily"
    # "the makers" (m10) sits in the last passage; its anchor Northpeak (m1) is in the second, pages up.
    browser.js("document.getElementById('doc').scrollTop = 1e9")
    browser.js("new Promise(r => setTimeout(r, 100))")
    _click(browser, *_center(browser, "[data-id='m10']"))
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
    _screenshot(browser, "render-attribution.png")
    # The pill takes you back to the linked mention.
    _click(browser, *_center(browser, "#jump"))
    assert browser.js(f"{IN_VIEW}('m10')")
    assert browser.dialogs() == [] and browser.exceptions() == []


def test_keyboard_and_hover(browser: DevTools) -> None:
    page = _write_page("trail-notes.html", render_html(_load("trail-notes.json")))
    _open(browser, page)
    for _ in range(4):  # m1 Northpeak, m2 Summit 45, m3 The company, m4 They
        _key(browser, "j")
    assert browser.js("document.querySelector('.m.is-current').dataset.id") == "m4"
    _key(browser, "k")
    _key(browser, "Enter")
    assert browser.js("brandscanView.selected()") == "m3"
    assert browser.js("brandscanView.evidenceRanges()") == 3
    _key(browser, "Escape")
    assert browser.js("brandscanView.selected()") is None
    # Hover previews the attribution of "it" (m7) without a click; leaving it clears the preview.
    x, y = _center(browser, "[data-id='m7']")
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    assert browser.js("brandscanView.selected()") == "m7"
    assert browser.js("document.querySelector(\"[data-id='m5']\").classList.contains('is-anchor')")
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=450)
    assert browser.js("brandscanView.selected()") is None
    assert browser.exceptions() == []


def test_injection_renders_as_text_and_fires_nothing(browser: DevTools) -> None:
    page = _write_page("xss.html", render_html(_load("xss.json")))
    _open(browser, page)
    _click(browser, *_center(browser, "[data-id='m3']"))  # its evidence spans are the payloads
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
    _screenshot(browser, "render-xss.png")
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
    _open(browser, _write_page("big.html", render_html(_big_report(1_000_000))))
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
    _screenshot(browser, "render-big.png")
    assert browser.exceptions() == []


def test_document_switcher(browser: DevTools) -> None:
    reports = [_load("trail-notes.json"), {"schema": "brandscan.report/1", "source": "bad.txt", "error": "boom"},
               _load("xss.json")]
    _open(browser, _write_page("many.html", render_html_many(reports)))
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
    _open(browser, _write_page("example.html", render_html(report)))
    # Show the link that reaches farthest back: the case the view is for.
    linked = [m for m in report["mentions"] if (m.get("attribution") or {}).get("anchors")]
    far = max(linked, key=lambda m: max(abs(m["start"] - a["start"]) for a in m["attribution"]["anchors"]))
    assert browser.js(f"brandscanView.reveal({json.dumps(far['id'])})")
    browser.js("new Promise(r => setTimeout(r, 100))")
    _click(browser, *_center(browser, f"[data-id={json.dumps(far['id'])}]"))
    assert browser.js("brandscanView.selected()") == far["id"]
    assert browser.js("document.querySelectorAll('.m.is-anchor').length") >= 1
    shot = _screenshot(browser, "render-example.png")
    if os.environ.get("BRANDSCAN_SCREENSHOT_TO"):
        shutil.copyfile(shot, ROOT / os.environ["BRANDSCAN_SCREENSHOT_TO"])
    assert browser.dialogs() == [] and browser.exceptions() == []
