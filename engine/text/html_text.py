"""The visible text of an HTML page, with its block structure kept as line breaks.

The result is what a reader sees, laid out so that later stages can split it: block elements
(p, div, h1-h6, section, table, ...) are separated by a blank line ("\\n\\n", a passage boundary),
line-level elements (br, li, tr, dt, dd) by a single "\\n". Whitespace inside a run of inline text
collapses to one space, as a browser renders it; inside <pre> it is kept. Entities are decoded
(`&amp;` -> "&", `&nbsp;` -> U+00A0, which is kept: it is not collapsible whitespace in HTML).
Content of script, style, noscript, template, head and title is dropped, as are comments.

Offsets in a report refer to the returned string, never to the markup.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never rendered as page text.
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "title"})
# What may appear inside <head>; any other start tag closes an unclosed head, as browsers do.
_HEAD_CONTENT = frozenset({"base", "link", "meta", "script", "style", "noscript", "template", "title"})
_PARAGRAPH = frozenset({
    "address", "article", "aside", "blockquote", "body", "details", "dialog", "div", "dl",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
})
_LINE = frozenset({"br", "caption", "dd", "dt", "li", "option", "tr"})
_CELL = frozenset({"td", "th"})
# HTML's own whitespace set: U+00A0 and other Unicode spaces are content, not layout.
_COLLAPSIBLE = re.compile(r"[ \t\n\r\f]+")

_LINE_BREAK = 1
_PARAGRAPH_BREAK = 2


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._hidden: list[str] = []  # open invisible elements, innermost last
        self._pre = 0  # depth of open <pre> elements
        self._pre_start = False  # the newline right after <pre> is not content (HTML spec)
        self._pending = 0  # break owed before the next text: 0, _LINE_BREAK or _PARAGRAPH_BREAK
        self._space = False  # whitespace seen since the last text, owed before the next text

    def text(self) -> str:
        return "".join(self._out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._hidden and self._hidden[-1] == "head" and tag not in _HEAD_CONTENT:
            self._hidden.pop()
        if tag in _INVISIBLE:
            self._hidden.append(tag)
            return
        if self._hidden:
            return
        if tag == "pre":
            self._pre += 1
            self._pre_start = True
        self._layout(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._hidden:
            # Close it and anything left unclosed inside it.
            while self._hidden.pop() != tag:
                pass
            return
        if self._hidden:
            return
        if tag == "pre" and self._pre:
            self._pre -= 1
        self._layout(tag)

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        if self._pre:
            if self._pre_start and data.startswith("\n"):
                data = data[1:]
            self._pre_start = False
            if data:
                self._emit(data)
            return
        collapsed = _COLLAPSIBLE.sub(" ", data)
        core = collapsed.strip(" ")
        if collapsed.startswith(" "):
            self._space = True
        if core:
            self._emit(core)
            self._space = collapsed.endswith(" ")

    def _layout(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self._pending = max(self._pending, _PARAGRAPH_BREAK)
        elif tag in _LINE:
            self._pending = max(self._pending, _LINE_BREAK)
        elif tag in _CELL:
            self._space = True

    def _emit(self, text: str) -> None:
        if self._out:
            if self._pending:
                # Trailing whitespace (kept only by <pre>) must not widen the break.
                while self._out and not self._out[-1].rstrip():
                    self._out.pop()
                if self._out:
                    self._out[-1] = self._out[-1].rstrip()
                    self._out.append("\n" * self._pending)
            elif self._space:
                self._out.append(" ")
        self._out.append(text)
        self._pending = 0
        self._space = False


def html_to_text(markup: str) -> str:
    """The visible text of `markup`: blocks separated by "\\n\\n", lines by "\\n", no outer whitespace."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    return parser.text().strip()
