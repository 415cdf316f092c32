"""Assemble the process: config, logging, SQL, pool and app; open and close the pool."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import falcon
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from service.api.app import create_app
from service.api.idempotency import IdempotencyKeys, IdempotencyStore
from service.core.config import Config
from service.core.logs import configure_logging
from service.core.metrics import PoolMetrics
from service.data.health import DatabaseHealth, expected_migrations, read_schema_state
from service.data.pool import create_pool, libpq_url
from service.data.queries import Queries
from service.data.service_keys import ServiceKeys
from service.data.tasks import TaskStore
from service.data.webhooks import WebhookStore

logger = logging.getLogger("service.server.bootstrap")


class StartupCheckFailed(RuntimeError):
    """The database is unreachable or lacks migrations this code needs."""


@dataclass
class Runtime:
    """Everything one process serves with; the pool opens only in `start()`."""

    config: Config
    queries: Queries
    pool: ConnectionPool
    app: falcon.App
    pool_metrics: PoolMetrics

    def start(self) -> None:
        """Open the pool after fork; it connects in the background and keeps retrying.

        A worker never refuses to boot over the database: while it is down, requests get
        a quick 503 and the pool reconnects when it returns. Start-up of the whole
        service fails fast instead (`check_schema`, run once by the gunicorn master).
        """
        self.pool.open(wait=False)
        self.pool_metrics.start()

    def stop(self) -> None:
        """Close the pool, letting borrowed connections finish."""
        self.pool_metrics.stop()
        self.pool.close(timeout=5)


def build(config: Config | None = None) -> Runtime:
    """Create the runtime from the environment (or `config`) without touching the network."""
    config = config or Config.from_env()
    configure_logging(config.log_level)
    queries = Queries.load()
    pool = create_pool(config, queries)
    store = TaskStore(pool, queries)
    health = DatabaseHealth(pool, queries, expected_migrations())
    idempotency = IdempotencyKeys(pool, IdempotencyStore(queries))
    pool_metrics = PoolMetrics(pool)
    webhooks = WebhookStore(pool, queries)
    return Runtime(
        config=config,
        queries=queries,
        pool=pool,
        app=create_app(
            config,
            store,
            health,
            idempotency,
            pool_metrics,
            webhooks,
            cursor_key=functools.partial(ServiceKeys(pool, queries).get, "cursor"),
        ),
        pool_metrics=pool_metrics,
    )


def check_schema(config: Config, queries: Queries | None = None) -> None:
    """Fail fast, saying why, when the database is unreachable or lacks a migration."""
    queries = queries or Queries.load()
    try:
        with psycopg.connect(
            libpq_url(config.database_url),
            connect_timeout=config.connect_timeout,
            row_factory=dict_row,
            autocommit=True,
        ) as conn:
            state = read_schema_state(conn, queries, expected_migrations())
            if config.transaction_pooling:
                _warn_without_server_statement_timeout(conn, queries)
            _warn_without_durable_commits(conn, queries)
    except psycopg.OperationalError as error:
        # libpq's message may span lines; the start-up failure is one line.
        reason = " ".join(str(error).split())
        raise StartupCheckFailed(f"cannot reach the database: {reason}") from error
    if state.pending:
        raise StartupCheckFailed(
            "the database schema is behind the code; pending migrations: "
            + ", ".join(state.pending)
            + " (run `make migrate`, or `python -m service.server.migrate apply`)"
        )
    logger.info("schema is current at %s", state.latest)
    warn_insecure_webhooks(config)


def warn_insecure_webhooks(config: Config) -> None:
    """Log a warning while WEBHOOK_ALLOW_INSECURE is on (the web service and the worker)."""
    if config.webhook_allow_insecure:
        logger.warning(
            "WEBHOOK_ALLOW_INSECURE is on: webhooks may target plain http and loopback, "
            "private or metadata addresses; for development and tests only"
        )


def _warn_without_durable_commits(conn: psycopg.Connection, queries: Queries) -> None:
    # An operator may trade durability for write throughput (docs/performance.md); the
    # service says so at every start, so that the trade is never a surprise.
    row = conn.execute(queries["session_show_synchronous_commit"]).fetchone()
    if row is not None and row["synchronous_commit"] == "off":
        logger.warning(
            "synchronous_commit is off for this role or database: writes are answered before "
            "they are flushed, and a database crash can lose the last moments of answered "
            "writes (see docs/performance.md)"
        )


def _warn_without_server_statement_timeout(conn: psycopg.Connection, queries: Queries) -> None:
    # Behind a transaction pooler the service sets no statement_timeout itself
    # (service/data/pool.py): the role or database must carry one, or a runaway statement
    # holds its locks for ever.
    row = conn.execute(queries["session_show_statement_timeout"]).fetchone()
    if row is not None and row["milliseconds"] == 0:
        logger.warning(
            "PG_TRANSACTION_POOLING is on but the server sets no statement_timeout for this "
            "role or database; run ALTER ROLE ... SET statement_timeout (see docs/operations.md)"
        )
