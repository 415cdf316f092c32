"""The connection pool: one per process, created closed and opened after gunicorn forks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from service.core.config import Config
from service.data import deadline
from service.data.breaker import CircuitBreaker
from service.data.queries import Queries

# TCP keepalives and a user timeout let the kernel notice a vanished server (a network
# partition, a failed-over host) on idle pooled connections; they cannot notice a server
# that is up but frozen, which is what the deadline watchdog is for. Ignored on Unix sockets.
TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class GuardedPool(ConnectionPool):
    """A ConnectionPool whose every use ends by a deadline, however the database misbehaves.

    Each `connection()` block (the pool's health check of the connection included) runs
    under a deadline: the request's (see `service.data.deadline.RequestDeadline`) or, outside a
    request, `deadline_seconds` from the call. Waiting for a free connection is cut short
    to fit in it too. A `breaker` (service/data/breaker.py) refuses every use at once while the
    database is known to be unavailable.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        deadline_seconds: float,
        check_connection: Callable[[psycopg.Connection], None] | None,
        breaker: CircuitBreaker | None = None,
        **kwargs: Any,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.breaker = breaker or CircuitBreaker(open_seconds=0)
        self._short_budget = min(self.breaker.probe_seconds, deadline_seconds / 2)
        self.watchdog = deadline.Watchdog(name=f"db-watchdog-{kwargs.get('name', 'pool')}")
        # Not `_check_connection`: ConnectionPool has a method of that name, which an
        # attribute would shadow, so that the pool ran the check unwatched (a frozen
        # database then held the request for ever).
        self._unguarded_check = check_connection
        check = self._check_before_deadline if check_connection else None
        super().__init__(conninfo, check=check, **kwargs)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """Lend a connection as ConnectionPool does, cut if still in use at the deadline."""
        breaker = self.breaker
        if not breaker.clear and breaker.admit():  # admit() raises BreakerOpen while open
            self._probe(timeout)
        budget = None
        try:
            with deadline.within(self.deadline_seconds) as until:
                budget = until - monotonic()
                if budget <= 0:
                    # The request waited past its deadline before getting here: answer
                    # now, without adding to the database's (or this worker's) queue.
                    raise deadline.DeadlinePassed("the request's deadline passed before its turn")
                wait = self.timeout if timeout is None else timeout
                # A wait of 0 makes the pool raise PoolTimeout at once: a 503, as it should be.
                wait = min(wait, budget)
                with super().connection(timeout=wait) as conn, self.watchdog.watch(conn, until):
                    yield conn
        except psycopg.Error as error:  # PoolTimeout and DeadlineExceeded included
            # A use left with less than this from the start was cut for lack of time, not
            # necessarily for lack of an answer (see the breaker's "slow").
            breaker.failed(error, budget is not None and budget < self._short_budget)
            raise
        if not breaker.clear:
            breaker.succeeded()

    def _probe(self, timeout: float | None) -> None:
        # Within the probe's own short budget: a database still frozen holds the request
        # (and, on a sync worker, the requests queued behind it) no longer than that.
        try:
            with deadline.within(self.breaker.probe_seconds) as until:
                wait = self.timeout if timeout is None else timeout
                wait = max(0.0, min(wait, until - monotonic()))
                with super().connection(timeout=wait) as conn, self.watchdog.watch(conn, until):
                    ConnectionPool.check_connection(conn)
        except BaseException as error:
            self.breaker.probe_failed(error)
            raise
        self.breaker.succeeded()

    def _check_before_deadline(self, conn: psycopg.Connection) -> None:
        check = self._unguarded_check
        if isinstance(check, IdleCheck):
            if not check.due(conn):
                return  # handed out moments ago: nothing is sent, so nothing to watch
            check = ConnectionPool.check_connection
        until = deadline.current() or monotonic() + self.deadline_seconds
        with self.watchdog.watch(conn, until):
            check(conn)  # type: ignore[misc]

    def close(self, timeout: float = 5.0) -> None:
        """Close the pool and stop its watchdog."""
        super().close(timeout=timeout)
        self.watchdog.stop()


def libpq_url(database_url: str) -> str:
    """Return a URL libpq understands (drops a SQLAlchemy/yoyo style '+driver' suffix)."""
    scheme, sep, rest = database_url.partition("://")
    if sep and "+" in scheme:
        scheme = scheme.split("+", 1)[0]
    return f"{scheme}{sep}{rest}"


def create_pool(config: Config, queries: Queries) -> ConnectionPool:
    """Build the pool without opening it: no I/O happens until `pool.open()`.

    Connections run in autocommit, so a single-statement request is one round trip;
    code that needs several statements atomically uses `conn.transaction()`.
    """
    return GuardedPool(
        libpq_url(config.database_url),
        deadline_seconds=config.db_deadline_ms / 1000,
        check_connection=connection_check(config.pool_check_idle_ms) if config.pool_check else None,
        breaker=CircuitBreaker(
            open_seconds=config.db_breaker_open_ms / 1000,
            probe_seconds=config.db_breaker_probe_ms / 1000,
            name="tasks",
        ),
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
        timeout=config.pool_timeout,
        open=False,
        name="tasks",
        configure=_session_settings(config, queries),
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": config.prepare_threshold,
            "connect_timeout": config.connect_timeout,
            "application_name": "tasks-service",
            **TCP_SETTINGS,
        },
    )


def _session_settings(config: Config, queries: Queries):
    # Behind a transaction-pooling proxy (PgBouncer) a session SET lands on whichever server
    # connection runs it and stays there for other clients, while ours move on: so there
    # the timeout is the role's or database's setting instead (docs/operations.md).
    # The server, not the client, must cut a runaway statement: only the server can cancel
    # it and release its locks; a client-side cut through a proxy leaves it running.
    if config.transaction_pooling:
        return None
    sql = queries["session_set_statement_timeout"]
    params = {"milliseconds": str(config.statement_timeout_ms), "is_local": False}

    def configure(conn: psycopg.Connection) -> None:
        # The server cuts a runaway statement instead of letting it hold a worker thread.
        conn.execute(sql, params)

    return configure


class IdleCheck:
    """The pool's check: ping a connection only if it was not handed out within the window.

    A ping is a round trip, and on a busy worker it nearly doubled the cost of a one-query
    request (bench/RESULTS.md). A connection handed out moments ago was working moments ago,
    so only one that sat idle is checked (HikariCP's aliveBypassWindowMs does the same). One
    that breaks inside the window fails its request (a 503) and the pool replaces it when it
    comes back.
    """

    def __init__(self, idle_ms: int, clock: Callable[[], float] = monotonic) -> None:
        self._window = idle_ms / 1000
        self._clock = clock
        self._handed_out: WeakKeyDictionary[psycopg.Connection, float] = WeakKeyDictionary()

    def due(self, conn: psycopg.Connection) -> bool:
        """Record that `conn` is handed out now; return True if it sat idle long enough."""
        now = self._clock()
        last = self._handed_out.get(conn)
        self._handed_out[conn] = now
        return last is None or now - last > self._window

    def __call__(self, conn: psycopg.Connection) -> None:
        """Ping `conn` if it is due (psycopg-pool's check protocol: raise if it is broken)."""
        if self.due(conn):
            ConnectionPool.check_connection(conn)


def connection_check(
    idle_ms: int, clock: Callable[[], float] = monotonic
) -> Callable[[psycopg.Connection], None]:
    """Return the pool's check: an `IdleCheck` over `idle_ms`, or a ping every time for 0."""
    if idle_ms == 0:
        return ConnectionPool.check_connection
    return IdleCheck(idle_ms, clock)
