"""Run an Analyzer over a stream of documents: serially, in worker processes, or on a Dask cluster.

Every backend sits behind one small interface (`Backend.submit(document) -> handle with
.result()`), and `run()` drives it: it reads inputs lazily, answers cache hits without touching the
backend (so a warm rerun never starts workers or loads the model), keeps at most `window` documents
in flight, and yields records strictly in input order. Memory is bounded by the window, not by the
number of inputs.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from brandscan.engine import report as report_types
from brandscan.engine.catalog import Catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.engine.errors import DocumentError
from brandscan.engine.run.cache import CachedReport, CacheKeys, ReportCache
from brandscan.engine.text.documents import Document, DocumentFailure

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.pipeline import Analyzer

log = logging.getLogger("brandscan.runner")

Record = report_types.Report | report_types.ErrorRecord | CachedReport  # CachedReport: a cache hit, in its JSON form
Item = Document | DocumentFailure


@dataclass(frozen=True)
class AnalyzerSpec:
    """Everything a worker needs to build its own Analyzer: picklable, and small (no model)."""

    catalog: Catalog
    config: AnalyzerConfig

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A Catalog keeps a read-only index (a mappingproxy) that pickle refuses; send its fields
        # and let the worker rebuild it, index included.
        c = self.catalog
        return (_rebuild_spec, (c.source, c.brands, c.aspects, c.sha256, self.config))

    def build(self) -> Analyzer:
        from brandscan.engine.pipeline import Analyzer

        return Analyzer(self.catalog, self.config)

    def with_threads(self, workers_per_host: int) -> AnalyzerSpec:
        """Split this host's cores among its workers unless --threads was given: N workers each
        using every core would oversubscribe the CPU and run slower than one."""
        if self.config.threads is not None:
            return self
        threads = max(1, (os.cpu_count() or 1) // max(1, workers_per_host))
        return replace(self, config=self.config.replace(threads=threads))


def _rebuild_spec(source: str, brands: Any, aspects: Any, sha256: str, config: AnalyzerConfig) -> AnalyzerSpec:
    return AnalyzerSpec(Catalog(source=source, brands=brands, aspects=aspects, sha256=sha256), config)


def analyze_item(analyzer: Analyzer, item: Item) -> Record:
    """A report, or an error record for an input that could not be read or analyzed."""
    if isinstance(item, DocumentFailure):
        return report_types.ErrorRecord(source=item.source, error=item.error)
    try:
        return analyzer.analyze(item)
    except DocumentError as error:
        return report_types.ErrorRecord(source=item.source, error=str(error))


class Handle(Protocol):
    def result(self) -> Record: ...


class Backend(Protocol):
    """Where documents are analyzed. `window`: how many may be in flight at once."""

    window: int

    def submit(self, document: Document) -> Handle: ...

    def done(self, handle: Handle) -> bool: ...

    def close(self, cancel: bool) -> None: ...


@dataclass(frozen=True)
class _Ready:
    record: Record

    def result(self) -> Record:
        return self.record


class SerialBackend:
    """In this process, one document at a time (--jobs 1). The model loads on the first miss."""

    window = 1

    def __init__(self, spec: AnalyzerSpec) -> None:
        self.spec = spec
        self._analyzer: Analyzer | None = None

    def submit(self, document: Document) -> Handle:
        if self._analyzer is None:
            self._analyzer = self.spec.build()
        return _Ready(analyze_item(self._analyzer, document))

    def done(self, handle: Handle) -> bool:
        return True

    def close(self, cancel: bool) -> None:
        pass


# The one piece of process-wide state: a pool worker process owns exactly one Analyzer for its
# whole life, built by the pool initializer, so the model loads once per worker, not per document.
_WORKER_ANALYZER: list[Analyzer] = []
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """End this worker when the run that started it ends, even by kill -9 (which leaves nobody to
    stop the pool): otherwise each worker lives on under PID 1, holding a model of hundreds of MB.
    Linux delivers SIGKILL on the parent's death (PR_SET_PDEATHSIG); elsewhere, and for a parent
    that died before that was set, a thread checks the parent every second."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="brandscan-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # reparented: the parent is gone
            os._exit(1)


def _init_worker(spec: AnalyzerSpec, log_level: int, parent: int) -> None:
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group; only the parent decides what happens, so that a
    # report being written is finished and the workers are stopped in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from brandscan.engine.logs import configure_logging

    configure_logging(log_level)
    # The model loads on the worker's first document, not here: a ModelError then travels back as
    # that document's exception (exit 2 with its message) instead of breaking the pool.
    _WORKER_ANALYZER.append(spec.build())


def _analyze_in_worker(document: Document) -> Record:
    return analyze_item(_WORKER_ANALYZER[0], document)


_ATTEMPTS = 3  # per document, when worker processes die under it (killed, out of memory)


class _PoolHandle:
    """A document in the pool; resubmitted to a fresh pool if a worker process died under it."""

    def __init__(self, backend: ProcessBackend, document: Document) -> None:
        self.backend = backend
        self.document = document
        self.attempts = 1
        self.generation, self.future = backend._submit(document)

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Record:
        while True:
            try:
                return self.future.result()  # type: ignore[no-any-return]
            except BrokenProcessPool:
                # Every document in flight fails with the pool, not only the one that killed it.
                if self.attempts >= _ATTEMPTS:
                    return report_types.ErrorRecord(
                        source=self.document.source,
                        error=f"a worker process died while analyzing it ({self.attempts} attempts)",
                    )
                self.attempts += 1
                log.warning("a worker process died; analyzing %s again (attempt %d of %d)",
                            self.document.source, self.attempts, _ATTEMPTS)
                self.backend._replace_broken(self.generation)
                self.generation, self.future = self.backend._submit(self.document)


class ProcessBackend:
    """N worker processes (spawned, so no forked torch or tokenizer threads), each with its own
    Analyzer. The pool starts on the first cache miss, and starts again if a worker dies."""

    def __init__(self, spec: AnalyzerSpec, jobs: int, log_level: int = logging.WARNING) -> None:
        self.spec = spec.with_threads(jobs)
        self.jobs = jobs
        self.window = 2 * jobs  # enough queued that no worker idles while the head is written
        self.log_level = log_level
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0

    def _submit(self, document: Document) -> tuple[int, Future[Record]]:
        if self._executor is None:
            import multiprocessing

            self._executor = ProcessPoolExecutor(
                self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.spec, self.log_level, os.getpid()),
            )
            self._generation += 1
        return self._generation, self._executor.submit(_analyze_in_worker, document)

    def _replace_broken(self, generation: int) -> None:
        if generation == self._generation and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None  # the next _submit starts a new pool

    def submit(self, document: Document) -> Handle:
        return _PoolHandle(self, document)

    def done(self, handle: Handle) -> bool:
        return isinstance(handle, _PoolHandle) and handle.done()

    def worker_pids(self) -> list[int]:
        """The current pool's process ids (for monitoring, and for tests that kill one)."""
        processes = (getattr(self._executor, "_processes", None) or {}).values()
        return [p.pid for p in processes if p.pid is not None]

    def close(self, cancel: bool) -> None:
        if self._executor is None:
            return
        if not cancel:
            self._executor.shutdown(wait=True)
            return
        # Interrupted: the documents in progress are abandoned, so stop their workers now rather
        # than wait for them. There is no public API for this before Python 3.14, and shutdown()
        # forgets the processes, so take them first.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()


def run(
    items: Iterable[Item],
    backend: Backend,
    cache: ReportCache | None = None,
    keys: CacheKeys | None = None,
) -> Iterator[Record]:
    """Records for `items`, in input order. Fresh reports are stored in `cache` as they arrive.

    Closing the generator early (an interrupt, an error while writing) cancels what is in flight.
    """
    pairs = run_with_inputs(items, backend, cache, keys)
    try:
        for _, record in pairs:
            yield record
    finally:
        pairs.close()


def run_with_inputs(
    items: Iterable[Item],
    backend: Backend,
    cache: ReportCache | None = None,
    keys: CacheKeys | None = None,
) -> Generator[tuple[Item, Record], None, None]:
    """As `run`, each record with the input it is for (whose `origin` names its output file)."""
    if (cache is None) != (keys is None):
        raise ValueError("cache and keys go together")
    # (the input, cache key to store the result under or None when it came from the cache or
    # cannot be stored, the handle)
    pending: deque[tuple[Item, str | None, Handle]] = deque()
    finished = False
    try:
        for item in items:
            key = None
            if isinstance(item, DocumentFailure):
                handle: Handle = _Ready(report_types.ErrorRecord(source=item.source, error=item.error))
            else:
                if cache is not None and keys is not None:
                    key = keys.key(item)
                    hit = cache.get(key, item)
                    if hit is not None:
                        handle, key = _Ready(hit), None
                    else:
                        handle = backend.submit(item)
                else:
                    handle = backend.submit(item)
            pending.append((item, key, handle))
            # Yield what is finished at the head; block on it only when the window is full.
            while pending and (len(pending) >= backend.window or _done(backend, pending[0][2])):
                yield _finish(pending.popleft(), cache)
        while pending:
            yield _finish(pending.popleft(), cache)
        finished = True
    finally:
        backend.close(cancel=not finished)


def _done(backend: Backend, handle: Handle) -> bool:
    return isinstance(handle, _Ready) or backend.done(handle)


def _finish(entry: tuple[Item, str | None, Handle], cache: ReportCache | None) -> tuple[Item, Record]:
    item, key, handle = entry
    record = handle.result()
    if cache is not None and key is not None and isinstance(record, report_types.Report):
        cache.put(key, record)
    return item, record
