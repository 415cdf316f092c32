"""Database health and schema state: what /health, /readyz and start-up check."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from service.core.config import MIGRATIONS_DIR
from service.data import deadline
from service.data.queries import Queries

logger = logging.getLogger("service.data.health")

CHECK_TIMEOUT_SECONDS = 1.0


def expected_migrations(directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Return the ids of the migrations this code needs, oldest first (yoyo's naming)."""
    return sorted(
        path.stem for path in directory.glob("*.sql") if not path.stem.endswith(".rollback")
    )


@dataclass(frozen=True)
class SchemaState:
    """Which migrations the database has, against the ones the code expects."""

    applied: list[str]
    pending: list[str]

    @property
    def latest(self) -> str | None:
        """Return the most recently applied migration id."""
        return self.applied[0] if self.applied else None


def read_schema_state(
    conn: psycopg.Connection, queries: Queries, expected: list[str]
) -> SchemaState:
    """Read yoyo's bookkeeping; a database yoyo never touched has every migration pending."""
    try:
        with conn.transaction():
            rows = conn.execute(queries["schema_applied_migrations"]).fetchall()
    except psycopg.errors.UndefinedTable:
        rows = []
    applied = [row["migration_id"] if isinstance(row, dict) else row[0] for row in rows]
    return SchemaState(applied=applied, pending=[m for m in expected if m not in set(applied)])


class DatabaseHealth:
    """Check, within about a second, that the database answers and its schema is current."""

    def __init__(self, pool: ConnectionPool, queries: Queries, expected: list[str]) -> None:
        self._pool = pool
        self._queries = queries
        self._expected = expected

    def check(self) -> tuple[bool, dict[str, object]]:
        """Return (healthy, report) where report is the /health body.

        A frozen database cannot hold this past CHECK_TIMEOUT_SECONDS: the pool's deadline
        watchdog cuts the connection then.
        """
        timeout_params = {"milliseconds": str(int(CHECK_TIMEOUT_SECONDS * 1000)), "is_local": True}
        try:
            with (
                deadline.within(CHECK_TIMEOUT_SECONDS),
                self._pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn,
                conn.transaction(),
            ):
                conn.execute(self._queries["session_set_statement_timeout"], timeout_params)
                state = read_schema_state(conn, self._queries, self._expected)
        except (psycopg.Error, PoolTimeout) as error:
            logger.warning("health check failed: %s: %s", type(error).__name__, error)
            return False, {"status": "unavailable", "database": "unreachable", "schema": None}
        report: dict[str, object] = {
            "status": "ok" if not state.pending else "unavailable",
            "database": "ok",
            "schema": state.latest,
        }
        if state.pending:
            report["pending_migrations"] = state.pending
        return not state.pending, report
