"""The connection pool: one per process, created closed and opened after gunicorn forks."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from weakref import WeakKeyDictionary

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from service.config import Config
from service.queries import Queries


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
    return ConnectionPool(
        libpq_url(config.database_url),
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
        timeout=config.pool_timeout,
        open=False,
        name="tasks",
        check=connection_check(config.pool_check_idle_ms) if config.pool_check else None,
        configure=_session_settings(config, queries),
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": config.prepare_threshold,
            "connect_timeout": config.connect_timeout,
            "application_name": "tasks-service",
        },
    )


def _session_settings(config: Config, queries: Queries):
    sql = queries["session_set_statement_timeout"]
    params = {"milliseconds": str(config.statement_timeout_ms), "is_local": False}

    def configure(conn: psycopg.Connection) -> None:
        # The server cuts a runaway statement instead of letting it hold a worker thread.
        conn.execute(sql, params)

    return configure


def connection_check(
    idle_ms: int, clock: Callable[[], float] = monotonic
) -> Callable[[psycopg.Connection], None]:
    """Return the pool's check: ping a connection only if it was not handed out within idle_ms.

    A ping is a round trip, and on a busy worker it nearly doubled the cost of a one-query
    request (bench/RESULTS.md). A connection handed out moments ago was working moments ago,
    so only one that sat idle is checked (HikariCP's aliveBypassWindowMs does the same). One
    that breaks inside the window fails its request (a 503) and the pool replaces it when it
    comes back. idle_ms=0 checks every time.
    """
    if idle_ms == 0:
        return ConnectionPool.check_connection
    window = idle_ms / 1000
    handed_out: WeakKeyDictionary[psycopg.Connection, float] = WeakKeyDictionary()

    def check(conn: psycopg.Connection) -> None:
        now = clock()
        last = handed_out.get(conn)
        handed_out[conn] = now
        if last is None or now - last > window:
            ConnectionPool.check_connection(conn)

    return check
