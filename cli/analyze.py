"""`brandscan analyze PATH... -c CATALOGUE`: reports on stdout or in a directory.

Exit codes (docs/scale.md): 0 success; 1 a --fail-on condition was met; 2 usage, config or
catalogue error; 3 some inputs failed (their error records were written, every other input was
analyzed and written); 130 interrupted (every report written so far is whole); 141 stdout was
closed by its reader (`| head`): the run stopped quietly. When several apply, the first in the order
2, 130, 3, 1 wins: the most severe one says what happened.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from brandscan.engine.text.inputs import DEFAULT_MAX_BYTES

from .interrupt import quiet_stdout

EXIT_CONDITION_MET = 1
EXIT_INPUT_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a command killed by SIGPIPE (`| head`)

_FORMAT_HELP = (
    "json (pretty; an array for several documents), jsonl (one line per document), html, summary-json"
    " (one roll-up object for all documents); default: json for one input document, jsonl for several"
)
_FAIL_ON_HELP = (
    "Exit 1 when a report meets EXPR, e.g. 'unlinked>10', 'brand:acme.negative_share>0.3',"
    " 'brand:acme.mentions==0' (repeatable; grammar in docs/scale.md)."
)


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(analyze)


def analyze(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or - for stdin.")],
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            "-c",
            envvar="BRANDSCAN_CATALOG",
            help="Brand catalogue YAML [env: BRANDSCAN_CATALOG].",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write one report per input into DIR.")
    ] = None,
    glob: Annotated[
        list[str] | None,
        typer.Option("--glob", metavar="PATTERN", help="File pattern inside directories, e.g. '*.txt' (repeatable: any may match)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", metavar="GLOB", help="Leave out files and folders inside directories that match (repeatable)."
        ),
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            "--max-bytes",
            metavar="N",
            envvar="BRANDSCAN_MAX_BYTES",
            help=f"Refuse larger documents (an error record each; per line in JSON Lines); 0: no limit"
            f" [default: {DEFAULT_MAX_BYTES:,}].",
            show_default=False,
        ),
    ] = DEFAULT_MAX_BYTES,
    jsonl_id: Annotated[str, typer.Option("--jsonl-id", help="JSONL field naming each document.")] = "id",
    jsonl_text: Annotated[
        str, typer.Option("--jsonl-text", help="JSONL field holding each document's text.")
    ] = "text",
    include_text: Annotated[
        bool, typer.Option("--include-text", help="Put the analyzed text in each report.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", envvar="BRANDSCAN_CONFIG", help="Analyzer settings YAML (see configs/default.yaml)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", envvar="BRANDSCAN_MODEL", help="Model name or directory.")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="Encoder dtype: auto, float32, bfloat16, int8 (CPU).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Torch threads (default: all cores).")
    ] = None,
    window: Annotated[
        int | None, typer.Option("--window", help="Sliding attention window (default: the model's).")
    ] = None,
    global_budget: Annotated[
        int | None, typer.Option("--global-budget", help="Most global tokens per document.")
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Brand id that wrote the documents: its 'we/our/us' link to it."),
    ] = None,
    attribution: Annotated[
        str | None,
        typer.Option("--attribution", help="How links are explained: attention (last layers) or rollout."),
    ] = None,
    link_bias: Annotated[
        float | None,
        typer.Option("--link-bias", help="Added to every brand's score against 'no brand': > 0 links more "
                                         "candidates (recall), < 0 fewer (precision); default 0, the "
                                         "model's operating point (the README gives the bias of the best link F1)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", envvar="BRANDSCAN_JOBS", help="Worker processes (default: the number of cores)."
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            envvar="BRANDSCAN_CACHE_DIR",
            help="Report cache directory (default: $XDG_CACHE_HOME/brandscan or ~/.cache/brandscan).",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the report cache.")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            envvar="BRANDSCAN_DASK",
            help="Run on a Dask cluster: scheduler address tcp://HOST:PORT.",
        ),
    ] = None,
    dask_scheduler_file: Annotated[
        Path | None,
        typer.Option(
            "--dask-scheduler-file", help="Run on the Dask cluster described by this scheduler file."
        ),
    ] = None,
    fail_on: Annotated[
        list[str] | None, typer.Option("--fail-on", metavar="EXPR", help=_FAIL_ON_HELP)
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="Print a per-brand table on stderr at the end.")
    ] = False,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", envvar="BRANDSCAN_LOG_LEVEL", help="debug, info, warning or error (stderr)."
        ),
    ] = "warning",
) -> None:
    """Find brand mentions and write one JSON report per document."""
    from brandscan.engine.catalog import load_catalog
    from brandscan.engine.config import load_config
    from brandscan.engine.errors import ConfigError
    from brandscan.engine.gates import parse_conditions
    from brandscan.engine.logs import configure_logging, parse_level

    from .output import FORMATS

    level = parse_level(log_level)
    configure_logging(level)
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of: {', '.join(FORMATS)}")
    if catalog is None:
        raise ConfigError("no brand catalogue: pass -c CATALOGUE.yaml or set BRANDSCAN_CATALOG")
    if max_bytes < 0:
        raise ConfigError(f"--max-bytes {max_bytes}: expected 0 (no limit) or more")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected 1 or more")
    if dask is not None and dask_scheduler_file is not None:
        raise ConfigError("--dask and --dask-scheduler-file: give one of them")
    settings = load_config(config).replace(
        model=model,
        dtype=dtype,
        threads=threads,
        window=window,
        global_budget=global_budget,
        author=author,
        attribution=attribution,
        link_bias=link_bias,
        include_text=True if include_text or fmt == "html" else None,
    )
    brands = load_catalog(catalog)
    if settings.author is not None and settings.author not in {b.id for b in brands.brands}:
        raise ConfigError(f"--author {settings.author!r}: no such brand id in {catalog}")
    conditions = parse_conditions(
        fail_on or (), [b.id for b in brands.brands], [a.id for a in brands.aspects]
    )

    from .batch import Batch, run_batch

    if output is not None and output.exists() and not output.is_dir():
        raise ConfigError(f"-o {output}: exists and is not a folder")

    several = len(paths) > 1 or any(p != "-" and (Path(p).is_dir() or p.endswith(".jsonl")) for p in paths)
    batch = Batch(
        paths=paths,
        catalog=brands,
        settings=settings,
        fmt=fmt,
        output=output,
        several=several,
        globs=tuple(glob or ()),
        excludes=tuple(exclude or ()),
        max_bytes=max_bytes or None,
        jsonl_id=jsonl_id,
        jsonl_text=jsonl_text,
        # One document gains nothing from worker processes and would pay for starting them.
        jobs=jobs if jobs is not None else ((os.cpu_count() or 1) if several else 1),
        cache_dir=None if no_cache else cache_dir,
        use_cache=not no_cache,
        dask=dask,
        dask_scheduler_file=str(dask_scheduler_file) if dask_scheduler_file else None,
        conditions=conditions,
        summary=summary,
        log_level=level,
        progress=not quiet and sys.stderr.isatty() and os.environ.get("CI") != "true",
    )
    outcome = run_batch(batch)
    if outcome.broken_pipe:
        quiet_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE)
    if outcome.interrupted:
        print(
            f"brandscan: interrupted: {outcome.written} reports written whole, the remaining inputs were not analyzed",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    if outcome.failed:
        raise typer.Exit(EXIT_INPUT_FAILED)
    if outcome.fired:
        raise typer.Exit(EXIT_CONDITION_MET)
