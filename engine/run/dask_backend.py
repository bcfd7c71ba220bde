"""The Dask distributed backend (`--dask tcp://HOST:PORT`, `--dask-scheduler-file FILE`).

Needs the optional extra `brandscan[dask]`, on the client and on every worker. Each worker process
gets an `AnalyzerPlugin` that builds one Analyzer on its first document and keeps it, so the model
loads once per worker. A worker that dies mid-document loses nothing: the scheduler reschedules its
tasks on the remaining workers (up to `distributed.scheduler.allowed-failures` times), and since
each document is one task with its own key, read back in input order, nothing is duplicated.
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from typing import TYPE_CHECKING, Any

from distributed import Client, Future, WorkerPlugin, get_worker

from brandscan.engine.errors import ConfigError
from brandscan.engine.run.cache import model_fingerprint
from brandscan.engine.run.runner import AnalyzerSpec, Handle, Record, analyze_item

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.pipeline import Analyzer
    from brandscan.engine.text.documents import Document


class AnalyzerPlugin(WorkerPlugin):
    """One Analyzer per worker process, built lazily so that registering never waits on a model.

    Idempotent: a plugin of the same name (same catalogue, config and model) already on the cluster
    is kept, with its loaded model, so a nightly run against a long-lived cluster loads nothing.
    """

    idempotent = True

    def __init__(self, spec: AnalyzerSpec) -> None:
        self.spec = spec
        self._analyzer: Analyzer | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}  # the lock and the model stay on the worker they belong to

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]

    def analyze(self, document: Document) -> Record:
        # An Analyzer is not thread-safe and a worker may run several tasks at once: one document at
        # a time per worker process (torch already uses the worker's cores for one document).
        with self._lock:
            if self._analyzer is None:
                self._analyzer = self.spec.build()
            return analyze_item(self._analyzer, document)


def _analyze_on_worker(plugin_name: str, document: Document) -> Record:
    return get_worker().plugins[plugin_name].analyze(document)  # type: ignore[no-any-return, attr-defined]


class DaskBackend:
    """Documents as tasks on a distributed cluster; connects on the first cache miss."""

    def __init__(
        self,
        spec: AnalyzerSpec,
        address: str | None = None,
        scheduler_file: str | None = None,
        *,
        retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        if (address is None) == (scheduler_file is None):
            raise ConfigError("give one of --dask ADDRESS or --dask-scheduler-file FILE")
        self.spec = spec
        self.address = address
        self.scheduler_file = scheduler_file
        self.retries = retries  # for exceptions raised by a task; worker deaths are rescheduled anyway
        self.timeout = timeout
        self.window = 4
        self._client: Client | None = None
        self._plugin = ""
        self._run = uuid.uuid4().hex[:12]
        self._count = 0
        self._futures: list[Future] = []

    def _connect(self) -> Client:
        try:
            if self.address is not None:
                client = Client(self.address, timeout=self.timeout, set_as_default=False)
            else:
                client = Client(scheduler_file=self.scheduler_file, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            where = self.address or self.scheduler_file
            raise ConfigError(f"cannot reach the Dask scheduler at {where}: {error}") from None
        workers = client.scheduler_info().get("workers", {})
        hosts: dict[str, int] = {}
        for info in workers.values():
            host = str(info.get("host", ""))
            hosts[host] = hosts.get(host, 0) + 1
        spec = self.spec.with_threads(max(hosts.values(), default=1))
        # The name says what the workers' Analyzer was built from, model files included.
        digest = hashlib.sha256(f"{spec!r}:{model_fingerprint(spec.config)}".encode()).hexdigest()[:16]
        self._plugin = f"brandscan-analyzer-{digest}"
        client.register_plugin(AnalyzerPlugin(spec), name=self._plugin)
        # Enough queued per worker that none idles while results travel back.
        self.window = max(4, 2 * sum(int(w.get("nthreads", 1)) for w in workers.values()))
        return client

    def submit(self, document: Document) -> Handle:
        if self._client is None:
            self._client = self._connect()
        self._count += 1
        future = self._client.submit(
            _analyze_on_worker,
            self._plugin,
            document,
            key=f"brandscan-{self._run}-{self._count}",
            pure=False,
            retries=self.retries,
        )
        self._futures.append(future)
        if len(self._futures) > 4 * self.window:  # forget the ones already read back
            self._futures = [f for f in self._futures if not f.done()]
        return future  # type: ignore[no-any-return]

    def done(self, handle: Handle) -> bool:
        return bool(handle.done())  # type: ignore[attr-defined]

    def close(self, cancel: bool) -> None:
        if self._client is None:
            return
        if cancel:
            self._client.cancel([f for f in self._futures if not f.done()])
        self._futures = []
        self._client.close()
        self._client = None
