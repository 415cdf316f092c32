"""Prometheus metrics: HTTP requests by route, pool gauges, database and Redis errors; /metrics.

Under gunicorn every worker is a process of its own, so the values live in prometheus-client's
multiprocess mode: each process writes its samples to memory-mapped files in
PROMETHEUS_MULTIPROC_DIR and a scrape of any worker merges the files of all of them.
gunicorn.conf.py creates that directory (one per master) before any worker starts and marks
exited workers dead. prometheus-client picks the mode when it is first imported, from that
variable; without it (a single process, e.g. `python -m` tools) the values live in memory.

Every metric has labels, so importing this module writes nothing: the gunicorn master imports
it too (through the app module) and would otherwise leave files of its own.
"""

from __future__ import annotations

import logging
import os
import threading
from time import perf_counter
from typing import Any

import falcon
import psycopg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from psycopg_pool import ConnectionPool

logger = logging.getLogger("service.core.metrics")

# The metrics of this process when it is not in multiprocess mode; in multiprocess mode the
# registry is irrelevant (the values go to files) and a scrape reads the files instead.
REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds. Dense around the targets (30 ms reads, 60 ms writes at load), coarse beyond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# A method outside this set is counted as OTHER, so a client cannot mint label values.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
# The route label of a request that matched no route (a 404 from the router).
UNMATCHED_ROUTE = "unmatched"

DB_ERROR_KINDS = ("unavailable", "timeout", "other")

REQUESTS = Counter(
    "tasks_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "tasks_http_request_duration_seconds",
    "Time through the middleware and resource (before the body is serialized), by route.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "tasks_db_errors",
    "Database errors that reached a request: unavailable (no connection), timeout (a statement "
    "was cancelled for running too long) or other.",
    ["kind"],
    registry=REGISTRY,
)

# Rate limiting with REDIS_URL: each failed or timed-out call to Redis, and each request
# decided by the process's own buckets instead (while Redis fails: fail open).
RATE_LIMIT_REDIS_ERRORS = Counter(
    "tasks_rate_limit_redis_errors",
    "Calls to Redis for a rate-limit decision that failed: timeout, unavailable or other.",
    ["kind"],
    registry=REGISTRY,
)
RATE_LIMIT_FALLBACKS = Counter(
    "tasks_rate_limit_fallback_decisions",
    "Requests whose rate limit was decided by the process's own buckets because Redis failed.",
    ["reason"],
    registry=REGISTRY,
)
REDIS_ERROR_KINDS = ("timeout", "unavailable", "other")


# Per worker (liveall: one series per live process, labelled pid) and summed over the live
# workers (livesum). A dead worker's series disappear when gunicorn reports its exit.
_POOL_STATS = {
    "pool_size": ("size", "Connections open in the pool (idle or in use)."),
    "pool_available": ("available", "Idle connections ready to hand out."),
    "requests_waiting": ("waiting", "Requests waiting for a connection."),
}
POOL_WORKER = {
    stat: Gauge(
        f"tasks_db_pool_worker_{name}",
        f"{text} Per worker process.",
        ["pool"],
        multiprocess_mode="liveall",
        registry=REGISTRY,
    )
    for stat, (name, text) in _POOL_STATS.items()
}
POOL_TOTAL = {
    stat: Gauge(
        f"tasks_db_pool_{name}",
        f"{text} Sum over the live worker processes.",
        ["pool"],
        multiprocess_mode="livesum",
        registry=REGISTRY,
    )
    for stat, (name, text) in _POOL_STATS.items()
}


# Client connections a worker holds open, set by the keepalive worker class (the label): it
# shows whether kept-alive connections are spread evenly over the workers. (Labelled, so that
# no series exists until a worker sets one: the master imports this module too.)
WORKER_CONNECTIONS = Gauge(
    "tasks_http_worker_connections",
    "Client connections held open by this worker process.",
    ["worker_class"],
    multiprocess_mode="liveall",
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    """Return the directory of the multiprocess files, or None in single-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def classify_database_error(error: BaseException) -> str:
    """Return the kind of a database error: unavailable, timeout or other."""
    if isinstance(error, psycopg.errors.QueryCanceled):
        # statement_timeout (or a cancel on shutdown): the database answered, too slowly.
        return "timeout"
    # PoolTimeout is an OperationalError: no connection could be had in time, so the database
    # is down or saturated; either way it is unavailable to this request.
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return "unavailable"
    return "other"


def count_database_error(error: BaseException) -> None:
    """Count one database error that reached a request, by its kind."""
    DB_ERRORS.labels(classify_database_error(error)).inc()


def count_rate_limit_redis_error(kind: str) -> None:
    """Count one failed call to Redis for a rate-limit decision, by kind."""
    RATE_LIMIT_REDIS_ERRORS.labels(kind).inc()


def count_rate_limit_fallback() -> None:
    """Count one request decided without Redis because Redis failed (fail open)."""
    RATE_LIMIT_FALLBACKS.labels("redis_unavailable").inc()


def declare_rate_limit_metrics() -> None:
    """Create the rate-limit series at zero, so that alerts see them before the first error."""
    for kind in REDIS_ERROR_KINDS:
        RATE_LIMIT_REDIS_ERRORS.labels(kind)
    RATE_LIMIT_FALLBACKS.labels("redis_unavailable")


class RequestMetrics:
    """Falcon middleware: count each request and observe its latency by route template.

    The route label is the template the router matched (`/api/{user_id}/tasks/{task_id}`),
    never the raw path, so no user or task id ends up in a label. It must be the first
    middleware so that its time covers the others. The label children are cached per
    (route, method, status): after warm-up a request costs two dict lookups and three
    memory-mapped writes.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Zero-valued series from the start, so that rate() and alerts see them before
        # the first error.
        for kind in DB_ERROR_KINDS:
            DB_ERRORS.labels(kind)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = req.context.get("started")
        if started is None:  # another middleware failed before ours ran
            return
        elapsed = perf_counter() - started
        method = req.method if req.method in KNOWN_METHODS else "OTHER"
        key = (req.uri_template or UNMATCHED_ROUTE, method, resp.status_code)
        children = self._children.get(key)
        if children is None:
            labels = (key[0], method, str(key[2]))
            children = self._children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
        children[0].inc()
        children[1].observe(elapsed)


class PoolMetrics:
    """Publish the pool's size, idle connections and waiting requests as gauges.

    A daemon thread samples `pool.get_stats()` every `interval` seconds while the worker
    runs (`start`/`stop`), so that an idle worker's figures stay current; a scrape samples
    its own worker's pool first.
    """

    def __init__(self, pool: ConnectionPool, interval: float = 1.0) -> None:
        self._pool = pool
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        name = pool.name or "default"
        self._gauges = [
            (stat, POOL_WORKER[stat].labels(name), POOL_TOTAL[stat].labels(name))
            for stat in _POOL_STATS
        ]

    def sample(self) -> None:
        """Read the pool's current figures into the gauges."""
        stats = self._pool.get_stats()
        for stat, per_worker, total in self._gauges:
            value = stats.get(stat, 0)
            per_worker.set(value)
            total.set(value)

    def start(self) -> None:
        """Sample now and then every `interval` seconds, in a daemon thread."""
        if self._thread is not None:
            return
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="pool-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.sample()
            except Exception:  # a metrics hiccup must never take the worker down
                logger.exception("sampling the pool's statistics failed")
            self._stopped.wait(self._interval)


def exposition() -> bytes:
    """Return every metric of every worker in the Prometheus text format."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=directory)
    # A worker that exits while we read has its live-gauge files removed between the
    # directory listing and the open (gunicorn's child_exit): read the directory again.
    for _ in range(_SCRAPE_ATTEMPTS - 1):
        try:
            return generate_latest(registry)
        except FileNotFoundError:
            continue
    return generate_latest(registry)


_SCRAPE_ATTEMPTS = 5


class MetricsResource:
    """GET /metrics: the Prometheus text exposition of the whole service."""

    def __init__(self, pool_metrics: PoolMetrics | None = None) -> None:
        self._pool_metrics = pool_metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._pool_metrics is not None:
            self._pool_metrics.sample()
        resp.data = exposition()
        resp.content_type = CONTENT_TYPE_LATEST
        resp.cache_control = ["no-store"]


def mark_worker_dead(pid: int) -> None:
    """Drop the live gauges of an exited worker (gunicorn's child_exit calls this)."""
    directory = multiprocess_dir()
    if directory is not None:
        prometheus_multiprocess.mark_process_dead(pid, directory)
