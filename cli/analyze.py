"""`brandscan analyze PATH... -c CATALOGUE`: reports on stdout or in a directory.

Exit codes: 0 success; 2 usage, config or catalogue error; 3 some inputs failed (their error
records were written, every other input was analyzed and written).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

EXIT_INPUT_FAILED = 3

_FORMAT_HELP = "json (pretty; an array for several documents), jsonl (one line per document), html; default: json for one input document, jsonl for several"


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(analyze)


def analyze(
    paths: list[str] = typer.Argument(..., help="Files, directories (recursive) or - for stdin."),
    catalog: Optional[Path] = typer.Option(
        None, "--catalog", "-c", envvar="BRANDSCAN_CATALOG", help="Brand catalogue YAML [env: BRANDSCAN_CATALOG]."
    ),
    fmt: str = typer.Option("auto", "--format", "-f", help=_FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write one report per input into DIR."),
    glob: Optional[str] = typer.Option(None, "--glob", help="File pattern inside directories, e.g. '*.txt'."),
    jsonl_id: str = typer.Option("id", "--jsonl-id", help="JSONL field naming each document."),
    jsonl_text: str = typer.Option("text", "--jsonl-text", help="JSONL field holding each document's text."),
    include_text: bool = typer.Option(False, "--include-text", help="Put the analyzed text in each report."),
    config: Optional[Path] = typer.Option(
        None, "--config", envvar="BRANDSCAN_CONFIG", help="Analyzer settings YAML (see configs/default.yaml)."
    ),
    model: Optional[str] = typer.Option(None, "--model", envvar="BRANDSCAN_MODEL", help="Model name or directory."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Encoder dtype: auto, float32, bfloat16."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads (default: all cores)."),
    window: Optional[int] = typer.Option(None, "--window", help="Sliding attention window (default: the model's)."),
    global_budget: Optional[int] = typer.Option(None, "--global-budget", help="Most global tokens per document."),
    author: Optional[str] = typer.Option(
        None, "--author", help="Brand id that wrote the documents: its 'we/our/us' link to it."
    ),
    attribution: Optional[str] = typer.Option(
        None, "--attribution", help="How links are explained: attention (last layers) or rollout."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary on stderr."),
) -> None:
    """Find brand mentions and write one JSON report per document."""
    from brandscan.engine.catalog import load_catalog
    from brandscan.engine.config import load_config
    from brandscan.engine.errors import ConfigError

    from .output import FORMATS, DirectoryWriter, StdoutWriter
    from .progress import Progress

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of: {', '.join(FORMATS)}")
    if catalog is None:
        raise ConfigError("no brand catalogue: pass -c CATALOGUE.yaml or set BRANDSCAN_CATALOG")
    settings = load_config(config).replace(
        model=model,
        dtype=dtype,
        threads=threads,
        window=window,
        global_budget=global_budget,
        author=author,
        attribution=attribution,
        include_text=True if include_text or fmt == "html" else None,
    )
    brands = load_catalog(catalog)
    if settings.author is not None and settings.author not in {b.id for b in brands.brands}:
        raise ConfigError(f"--author {settings.author!r}: no such brand id in {catalog}")

    from brandscan.engine.documents import ReadOptions, iter_documents
    from brandscan.engine.pipeline import Analyzer

    options = ReadOptions(glob=glob, jsonl_id=jsonl_id, jsonl_text=jsonl_text)
    analyzer = Analyzer(brands, settings)
    if output is not None:
        writer: StdoutWriter | DirectoryWriter = DirectoryWriter(output, fmt)
    else:
        several = len(paths) > 1 or any(p != "-" and (Path(p).is_dir() or p.endswith(".jsonl")) for p in paths)
        if fmt == "auto":
            chosen = "jsonl" if several else "json"
        elif fmt == "json" and several:
            chosen = "json_array"
        else:
            chosen = fmt
        writer = StdoutWriter(sys.stdout.buffer, chosen)

    failed = 0
    show = not quiet and sys.stderr.isatty() and os.environ.get("CI") != "true"
    with Progress(enabled=show) as progress:
        for item in iter_documents(paths, options, stdin=sys.stdin.buffer):
            record = _analyze_one(analyzer, item)
            if hasattr(record, "error"):
                failed += 1
                print(f"brandscan: {record.source}: {record.error}", file=sys.stderr)
            writer.write(record)
            progress.advance(record)
    writer.close()
    if failed:
        raise typer.Exit(EXIT_INPUT_FAILED)


def _analyze_one(analyzer, item):  # type: ignore[no-untyped-def]
    """A report, or an error record for an input that could not be read or analyzed."""
    from brandscan.engine import report as rp
    from brandscan.engine.documents import DocumentFailure
    from brandscan.engine.errors import DocumentError

    if isinstance(item, DocumentFailure):
        return rp.ErrorRecord(source=item.source, error=item.error)
    try:
        return analyzer.analyze(item)
    except DocumentError as error:
        return rp.ErrorRecord(source=item.source, error=str(error))
