"""The connection pool: one per process, created closed and opened after gunicorn forks."""

from __future__ import annotations

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
        check=ConnectionPool.check_connection if config.pool_check else None,
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
