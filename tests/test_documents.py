"""The document readers on real text: HTML extraction and its offsets, encodings, JSONL, directories."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from brandscan.engine.text.documents import (
    Document,
    DocumentFailure,
    ReadOptions,
    iter_documents,
    iter_sources,
    read_source,
)
from brandscan.engine.text.html_text import html_to_text

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
DEFAULTS = ReadOptions()

REVIEW_PARAGRAPHS = [
    "Home | Gear",
    "The Norvik Outdoor Fjell 2 after three weeks",
    ("I bought the Fjell\xa02 from Norvik Outdoor in March, and it has been through rain, wind & one very "
    "long night on the ridge."),
    ('The poles are "aircraft grade" aluminium \u2014 they survived a 60\xa0km/h gust.\n'
    "The fly did not: one seam leaked at 3\xa0a.m."),
    "What I liked",
    "Weight: 1.9 kg < 2 kg\nPitching in under four minutes",
    "Item Price\nFjell 2 \u20ac349",
    "Caf\u00e9 owners in Troms\u00f8 recommended it too.",
    "\u00a9 2024 Trail Notes",
]


def only(results: list[Document | DocumentFailure]) -> Document:
    assert len(results) == 1
    assert isinstance(results[0], Document), results[0]
    return results[0]


def failure(results: list[Document | DocumentFailure]) -> DocumentFailure:
    assert len(results) == 1
    assert isinstance(results[0], DocumentFailure), results[0]
    return results[0]


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


# -- HTML ----------------------------------------------------------------------------------------


def test_html_paragraphs_sit_at_their_offsets() -> None:
    doc = only(read_source(str(FIXTURES / "review.html"), DEFAULTS))
    assert doc.text == "\n\n".join(REVIEW_PARAGRAPHS)
    start = 0
    for paragraph in REVIEW_PARAGRAPHS:
        assert doc.text.index(paragraph, start) == start
        assert doc.text[start : start + len(paragraph)] == paragraph
        start += len(paragraph) + 2
    assert doc.text.index("Norvik Outdoor in March") == 85  # 13 + 44 + 2 + len("I bought the Fjell 2 from ")
    assert doc.text[85:99] == "Norvik Outdoor"
    assert doc.sha256 == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    assert doc.warnings == ()


def test_html_drops_invisible_content() -> None:
    text = only(read_source(str(FIXTURES / "review.html"), DEFAULTS)).text
    for hidden in ("tent review", "font-family", "dataLayer", "Acme", "Injected", "Enable JavaScript",
                   "Hidden template", "navigation removed"):
        assert hidden not in text
    assert "<p>" not in text and "&amp;" not in text and "&lt;" not in text


def test_html_entities_and_whitespace() -> None:
    markup = "<p>Fish&nbsp;&amp;&nbsp;chips &#8211; &#x20AC;5, &lt;b&gt; not a tag, &bogus; kept</p>"
    assert html_to_text(markup) == "Fish\xa0&\xa0chips \u2013 \u20ac5, <b> not a tag, &bogus; kept"
    inline = "<div>  Acme\n\t <b>Air</b>,<i> again</i>  \n</div>"
    assert html_to_text(inline) == "Acme Air, again"


def test_html_pre_keeps_whitespace_and_unclosed_head_ends_at_content() -> None:
    markup = "<head><title>T</title><meta charset=utf-8><h1>Title shown</h1><pre>\n  a  b\n\tc\n</pre><p>after"
    assert html_to_text(markup) == "Title shown\n\n  a  b\n\tc\n\nafter"


def test_html_with_nothing_visible_is_an_empty_document(tmp_path: Path) -> None:
    source = write(tmp_path / "blank.htm", b"<html><head><title>x</title></head><body><script>1</script></body></html>")
    doc = only(read_source(source, DEFAULTS))
    assert (doc.text, doc.warnings) == ("", ("empty document",))


# -- plain text and encodings --------------------------------------------------------------------


def test_markdown_is_kept_verbatim() -> None:
    doc = only(read_source(str(FIXTURES / "notes.md"), DEFAULTS))
    assert doc.text == "# Norvik Outdoor\n\nThe *Fjell 2* is **light**.\n\n- [shop](https://example.com)\n"


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path: Path) -> None:
    source = write(tmp_path / "bad.txt", b"Acme \xff\xfe Air \x80 caf\xc3\xa9")
    doc = only(read_source(source, DEFAULTS))
    assert doc.text == "Acme \ufffd\ufffd Air \ufffd caf\u00e9"
    assert doc.warnings == ("3 invalid UTF-8 bytes replaced (first at byte 5)",)
    assert doc.sha256 == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


def test_bom_is_stripped_and_byte_offsets_count_it(tmp_path: Path) -> None:
    clean = only(read_source(write(tmp_path / "bom.txt", b"\xef\xbb\xbfNorvik"), DEFAULTS))
    assert (clean.text, clean.warnings) == ("Norvik", ())
    broken = only(read_source(write(tmp_path / "bom2.txt", b"\xef\xbb\xbfab\x80"), DEFAULTS))
    assert (broken.text, broken.warnings) == ("ab\ufffd", ("1 invalid UTF-8 byte replaced (first at byte 5)",))


def test_crlf_and_cr_become_lf(tmp_path: Path) -> None:
    doc = only(read_source(write(tmp_path / "dos.txt", b"one\r\n\r\ntwo\rthree\n"), DEFAULTS))
    assert doc.text == "one\n\ntwo\nthree\n"


def test_binary_files_are_refused(tmp_path: Path) -> None:
    nul = failure(read_source(write(tmp_path / "image.txt", b"GIF89a not really text\x00\x01"), DEFAULTS))
    assert nul.error == "binary file (NUL byte at byte 22), not a text document"
    noise = failure(read_source(write(tmp_path / "noise.dat", bytes(range(1, 256)) * 4), DEFAULTS))  # 156 of 255 are not text
    assert noise.error == (
        "binary file (61% of the first 8 KB is control bytes or invalid UTF-8), not a text document"
    )
    wide = failure(read_source(write(tmp_path / "wide.txt", "hi".encode("utf-16")), DEFAULTS))
    assert wide.error == "UTF-16/UTF-32 text (byte order mark); only UTF-8 is read, convert it first"


def test_empty_file_is_an_empty_document(tmp_path: Path) -> None:
    doc = only(read_source(write(tmp_path / "empty.md", b""), DEFAULTS))
    assert doc == Document(
        source=str(tmp_path / "empty.md"),
        text="",
        sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        warnings=("empty document",),
    )


def test_unknown_extension_is_text() -> None:
    # Named explicitly, a file is read whatever its extension; HTML markup in it is not parsed.
    doc = only(read_source(str(FIXTURES / "snippet.log"), DEFAULTS))
    assert doc.text == "<p>Acme Air</p> delayed again\n"


def test_stdin_is_plain_text_from_the_given_stream() -> None:
    stream = io.BytesIO(b"\xef\xbb\xbf<p>Acme &amp; Norvik</p>\r\n")
    docs = list(iter_documents(["-"], DEFAULTS, stdin=stream))
    assert docs == [
        Document(
            source="-",
            text="<p>Acme &amp; Norvik</p>\n",
            sha256=hashlib.sha256(b"<p>Acme &amp; Norvik</p>\n").hexdigest(),
        )
    ]


def test_max_bytes_refuses_larger_inputs(tmp_path: Path) -> None:
    options = ReadOptions(max_bytes=5)
    assert only(read_source(write(tmp_path / "ok.txt", b"12345"), options)).text == "12345"
    big = failure(read_source(write(tmp_path / "big.txt", b"123456"), options))
    assert big.error == "larger than the limit of 5 bytes (--max-bytes), not read"
    assert failure(read_source("-", options, stdin=io.BytesIO(b"123456"))).source == "-"


# -- JSON Lines ----------------------------------------------------------------------------------


def test_jsonl_good_lines_load_and_bad_lines_fail_alone() -> None:
    path = str(FIXTURES / "posts.jsonl")
    results = read_source(path, DEFAULTS)
    summary = [
        (r.source.removeprefix(path), r.text if isinstance(r, Document) else r.error) for r in results
    ]
    assert summary == [
        ("#p1", "Acme Air lost my bag again."),
        ("#2", "Norvik's tents are great.\nWould buy again."),
        ("#L4", "No id on this one."),
        ("#L5", "line 5: invalid JSON: Unterminated string starting at (column 22)"),
        ("#L6", "line 6: expected a JSON object, got array"),
        ("#p6", "line 7: missing text field 'text'"),
        ("#p7", "line 8: field 'text' must be a string, got number"),
        ("#L9", "Same id as line 1."),
    ]
    assert results[-1].warnings == ("duplicate id 'p1' (first on line 1), named by line instead",)


def test_jsonl_field_names_and_per_line_byte_offsets(tmp_path: Path) -> None:
    data = b'{"uid": "a", "body": "ok"}\n{"uid": "b", "body": "caf\xe9"}\n{"uid": true, "body": "x"}\n'
    options = ReadOptions(jsonl_id="uid", jsonl_text="body")
    results = read_source(write(tmp_path / "r.jsonl", data), options)
    assert [r.source.rsplit("#", 1)[1] for r in results] == ["a", "b", "L3"]
    assert results[1].text == "caf\ufffd"
    assert results[1].warnings == ("1 invalid UTF-8 byte replaced (first at byte 52)",)
    assert data[52:53] == b"\xe9"
    assert results[2].error == "line 3: field 'uid' must be a string or an integer, got boolean"


def test_jsonl_without_records_is_one_empty_document(tmp_path: Path) -> None:
    doc = only(read_source(write(tmp_path / "none.jsonl", b"\n  \n"), DEFAULTS))
    assert (doc.text, doc.warnings) == ("", ("no JSON Lines records", "empty document"))


# -- sources -------------------------------------------------------------------------------------


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for name in ["b.txt", "a.md", "c.html", "skip.py", "D.HTM", "z.jsonl", "sub/y.txt", "sub/x.md",
                 "sub/deeper/w.txt", "a_dir/v.txt", ".hidden/u.txt", ".secret.txt"]:
        write(tmp_path / name, b"text")
    return tmp_path


def relative(items: list[str | DocumentFailure], root: Path) -> list[str]:
    return [os.path.relpath(item, root) for item in items if isinstance(item, str)]


def test_directory_expansion_is_recursive_and_sorted(tree: Path) -> None:
    found = list(iter_sources([str(tree)], DEFAULTS))
    assert relative(found, tree) == [
        "D.HTM", "a.md", "b.txt", "c.html", "z.jsonl", "a_dir/v.txt", "sub/x.md", "sub/y.txt", "sub/deeper/w.txt",
    ]


def test_directory_expansion_with_glob(tree: Path) -> None:
    def names(glob: str) -> list[str]:
        return relative(list(iter_sources([str(tree)], ReadOptions(globs=(glob,)))), tree)

    assert names("*.txt") == ["b.txt", "a_dir/v.txt", "sub/y.txt", "sub/deeper/w.txt"]
    assert names("sub/*.md") == ["sub/x.md"]
    assert names("**/*.md") == ["a.md", "sub/x.md"]
    assert names("*.HTM") == ["D.HTM"]


def test_missing_paths_fail_and_the_rest_still_load(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", b"Acme")
    missing = str(tmp_path / "missing.txt")
    results = list(iter_documents([missing, "-", good], DEFAULTS, stdin=io.BytesIO(b"Norvik")))
    assert results[0] == DocumentFailure(missing, "no such file or directory")
    assert [(r.source, r.text) for r in results[1:]] == [("-", "Norvik"), (good, "Acme")]


def test_a_directory_read_as_a_document_fails(tmp_path: Path) -> None:
    assert failure(read_source(str(tmp_path), DEFAULTS)).error == "is a directory, not a document"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_fails(tmp_path: Path) -> None:
    source = write(tmp_path / "locked.txt", b"secret")
    os.chmod(source, 0)
    assert failure(read_source(source, DEFAULTS)).error == "cannot read: Permission denied"


def test_iter_documents_reads_one_source_at_a_time(tmp_path: Path) -> None:
    write(tmp_path / "1.txt", b"first")
    second = write(tmp_path / "2.txt", b"second")
    documents = iter_documents([str(tmp_path)], DEFAULTS)
    assert next(documents).text == "first"
    # Had the iterator read everything up front, this change would go unseen.
    Path(second).write_bytes(b"changed")
    assert next(documents).text == "changed"
    assert list(documents) == []
