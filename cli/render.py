"""`brandscan render`: the HTML view of one report, or of several from a JSON Lines file."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from brandscan.engine.errors import BrandscanError

from .atomic import remove_leftovers, write_atomic
from .interrupt import quiet_stdout

EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a command killed by SIGPIPE (`| head`)


def register(app: typer.Typer) -> None:
    @app.command()
    def render(
        report: Annotated[
            str, typer.Argument(metavar="REPORT", help="Report JSON, JSON Lines of reports, or - for stdin.")
        ],
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="HTML file to write (default: stdout).")
        ] = None,
        index: Annotated[
            int | None,
            typer.Option("--index", min=1, help="From a JSON Lines file, render only the Nth record (1 = first)."),
        ] = None,
        text: Annotated[
            Path | None,
            typer.Option(
                "--text",
                help="The document as plain text, for a report written without --include-text "
                "(checked against every mention span).",
            ),
        ] = None,
    ) -> None:
        """Write a self-contained HTML view of a report: text with mentions, links and sentiment.

        A JSON Lines file renders all its documents into one page with a document switcher,
        unless --index picks one.
        """
        # The engine is imported here so that `brandscan --help` stays fast.
        from brandscan.engine.render.html import RenderError, attach_text, load_reports, render_html_many

        data = sys.stdin.buffer.read() if report == "-" else None
        name = "<stdin>" if report == "-" else report
        reports = load_reports(name, data)
        if index is not None:
            if index > len(reports):
                raise RenderError(f"{name}: --index {index} is out of range (the file holds {len(reports)})")
            reports = [reports[index - 1]]
        if text is not None:
            if len(reports) != 1:
                raise RenderError(f"--text needs one report; {name} holds {len(reports)} (pick one with --index)")
            try:
                # Bytes decoded as they are: newline translation would shift every offset after a \r\n.
                document = text.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise RenderError(f"{text}: cannot read as UTF-8 text: {error}") from None
            reports = [attach_text(reports[0], document, str(text))]
        for n, r in enumerate(reports, 1):
            if "error" not in r and r.get("text") is None:
                where = f"{name} (record {n})" if len(reports) > 1 else name
                print(
                    f"brandscan: warning: {where}: the report has no text (analyze with --include-text); "
                    "the page lists mentions without the document",
                    file=sys.stderr,
                )
        try:
            page = render_html_many(reports)
        except BrandscanError as error:
            raise RenderError(f"{name}: {error}") from None
        if output is None:
            try:
                sys.stdout.write(page)
                sys.stdout.flush()
            except BrokenPipeError:
                quiet_stdout()
                raise typer.Exit(EXIT_BROKEN_PIPE) from None
        else:
            try:
                # Beside the target, created exclusively (never through a planted link), then renamed.
                remove_leftovers(output.absolute().parent)
                write_atomic(output, page.encode("utf-8"))
            except OSError as error:
                raise RenderError(f"{output}: cannot write: {error.strerror or error}") from None
