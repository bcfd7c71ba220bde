"""One `analyze` run: inputs through the cache and a backend, gates, writers, summary.

Separated from the option parsing in analyze.py so that the flow reads top to bottom: documents are
streamed from disk, answered from the cache or analyzed (serially, in worker processes, or on a
Dask cluster), checked against the --fail-on conditions, written (each report whole, even when
interrupted), and folded into the roll-up.
"""
from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brandscan.engine import report as report_types
from brandscan.engine.catalog import Catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.gates import Condition

log = logging.getLogger("brandscan.analyze")


@dataclass(frozen=True)
class Batch:
    """Everything `analyze` decided from its options."""

    paths: list[str]
    catalog: Catalog
    settings: AnalyzerConfig
    fmt: str
    output: Path | None
    several: bool
    globs: tuple[str, ...]
    excludes: tuple[str, ...]
    max_bytes: int | None
    jsonl_id: str
    jsonl_text: str
    jobs: int
    cache_dir: Path | None  # None with use_cache: the default directory
    use_cache: bool
    dask: str | None
    dask_scheduler_file: str | None
    conditions: tuple[Condition, ...]
    summary: bool
    log_level: int
    progress: bool


@dataclass(frozen=True)
class Outcome:
    written: int  # records written (reports and error records)
    failed: int  # error records among them
    fired: int  # reports that met at least one --fail-on condition
    interrupted: bool
    broken_pipe: bool = False  # stdout's reader went away (`| head`): the run stopped quietly


def _backend(batch: Batch, spec: Any) -> Any:
    if batch.dask is not None or batch.dask_scheduler_file is not None:
        try:
            from brandscan.engine.run.dask_backend import DaskBackend
        except ImportError:
            from brandscan.engine.errors import ConfigError

            raise ConfigError("--dask needs the optional extra: pip install 'brandscan[dask]'") from None
        return DaskBackend(spec, address=batch.dask, scheduler_file=batch.dask_scheduler_file)
    from brandscan.engine.run.runner import ProcessBackend, SerialBackend

    if batch.jobs == 1:
        return SerialBackend(spec)
    return ProcessBackend(spec, batch.jobs, batch.log_level)


def _writer(batch: Batch, stream: Any) -> Any:
    from .output import DirectoryWriter, NullWriter, StdoutWriter

    if batch.output is not None:
        return DirectoryWriter(batch.output, "json" if batch.fmt == "summary-json" else batch.fmt)
    if batch.fmt == "summary-json":
        return NullWriter()
    if batch.fmt == "auto":
        chosen = "jsonl" if batch.several else "json"
    elif batch.fmt == "json" and batch.several:
        chosen = "json_array"
    else:
        chosen = batch.fmt
    return StdoutWriter(stream, chosen)


def run_batch(batch: Batch) -> Outcome:
    """Analyze and write everything; returns what happened (the caller turns it into an exit code)."""
    from brandscan.engine.gates import fired as conditions_met
    from brandscan.engine.pipeline import Analyzer
    from brandscan.engine.rollup import Rollup
    from brandscan.engine.run.cache import (
        CachedReport,
        CacheKeys,
        ReportCache,
        default_cache_dir,
        model_fingerprint,
    )
    from brandscan.engine.run.runner import AnalyzerSpec, run_with_inputs
    from brandscan.engine.text.documents import ReadOptions, iter_documents

    from .interrupt import InterruptGuard, reports_stdout
    from .progress import Progress
    from .summary import print_summary

    spec = AnalyzerSpec(batch.catalog, batch.settings)
    cache = keys = None
    if batch.use_cache:
        cache = ReportCache(batch.cache_dir or default_cache_dir())
        # The Analyzer built here only hashes its config and catalogue: its model never loads.
        keys = CacheKeys(model=model_fingerprint(batch.settings), config=Analyzer(batch.catalog, batch.settings).config_digest())
    rollup = Rollup() if batch.summary or batch.progress or batch.fmt == "summary-json" else None
    options = ReadOptions(globs=batch.globs, excludes=batch.excludes, jsonl_id=batch.jsonl_id,
                          jsonl_text=batch.jsonl_text, max_bytes=batch.max_bytes)
    _check_matches(batch.paths, options)
    written = failed = met = 0
    fired_counts: Counter[str] = Counter()
    interrupted = broken_pipe = False
    with reports_stdout() as stream, InterruptGuard() as guard, Progress(enabled=batch.progress) as progress:
        writer = _writer(batch, stream)
        records = run_with_inputs(
            iter_documents(batch.paths, options, stdin=sys.stdin.buffer), _backend(batch, spec), cache, keys
        )
        try:
            for item, record in records:
                if isinstance(record, report_types.Report):
                    # The JSON form once: the conditions, the roll-up and the writer all read it (building
                    # it again to write was a tenth of a 16k-token command's time).
                    record = CachedReport(report_types.to_dict(record))
                data = record.data if isinstance(record, CachedReport) else report_types.to_dict(record)
                if batch.conditions:
                    fired = conditions_met(data, batch.conditions)
                    if fired:
                        met += 1
                        fired_counts.update(fired)
                        log.info("%s: --fail-on met: %s", record.source, ", ".join(fired))
                        if isinstance(record, CachedReport):
                            record = record.with_fired(fired)
                            data = record.data
                if isinstance(record, report_types.ErrorRecord):
                    failed += 1
                    print(f"brandscan: {record.source}: {record.error}", file=sys.stderr)
                with guard.critical():
                    writer.write(record, item.origin)
                    written += 1
                if rollup is not None:
                    rollup.add(data)
                progress.advance(data)
        except KeyboardInterrupt:
            interrupted = True
        except BrokenPipeError:
            broken_pipe = True  # nobody reads the rest: stop, as `cat` would on SIGPIPE
        finally:
            records.close()  # cancels work in flight when the loop did not finish
        try:
            with guard.critical():
                writer.close()
                if batch.fmt == "summary-json" and rollup is not None and not broken_pipe:
                    stream.write(_summary_bytes(rollup.to_dict()))
                    stream.flush()
        except BrokenPipeError:
            broken_pipe = True
    if broken_pipe:
        return Outcome(written=written, failed=failed, fired=met, interrupted=False, broken_pipe=True)
    if cache is not None and cache.corrupt:
        log.warning("%d corrupt cache entries were recomputed", cache.corrupt)
    if cache is not None:
        log.info("cache %s: %d hits, %d misses", cache.directory, cache.hits, cache.misses)
    summarized = rollup is not None and (batch.summary or (batch.progress and not interrupted))
    if summarized and rollup is not None:
        print_summary(rollup.to_dict(), limit=None if batch.summary else 15)
    if fired_counts and not summarized:  # the table lists them; without it, one line says which
        which = "; ".join(f"{c} ({n} document{'s' if n != 1 else ''})" for c, n in fired_counts.items())
        print(f"brandscan: --fail-on met: {which}", file=sys.stderr)
    return Outcome(written=written, failed=failed, fired=met, interrupted=interrupted)


def _check_matches(paths: list[str], options: Any) -> None:
    """Say which directories matched nothing; when nothing at all is left to analyze, stop (exit 2)."""
    from brandscan.engine.errors import InputError
    from brandscan.engine.text.sources import patterns, unmatched

    empty = unmatched(paths, options)
    if not empty:
        return
    what = patterns(options)
    if len(empty) == len(paths):
        named = ", ".join(empty)
        raise InputError(f"nothing to analyze: no files matching {what} in {named}")
    for path in empty:
        log.warning("%s: no files matching %s", path, what)


def _summary_bytes(summary: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
