"""The retention purges' shared loop: find whose rows are old, then purge one user at a time."""

from __future__ import annotations

import threading

import psycopg
from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.metrics import PURGED

USERS_PER_RUN = 100
ROWS_PER_STATEMENT = 500


class RetentionPurge:
    """Purge rows older than `retention_days`, one user per statement.

    A read across users (locking nothing) finds whose rows are old; then a single-user
    statement deletes them, skipping locked rows (on Citus: one shard each). Subclasses name
    the job, its two statements (who has old rows; purge one user's) and the metric label.
    """

    name: str
    kind: str
    users_statement: str
    purge_statement: str
    interval = 300.0

    def __init__(self, pool: ConnectionPool, queries: Queries, retention_days: int) -> None:
        self._pool = pool
        self._users = queries[self.users_statement]
        self._purge = queries[self.purge_statement]
        self._retention_days = retention_days

    def purged_by(self, cursor: psycopg.Cursor) -> int:
        """Return how many rows the purge statement removed (it answers a `purged` count)."""
        row = cursor.fetchone()
        assert row is not None
        return int(row["purged"])

    def run_once(self, stopping: threading.Event) -> int:
        """Purge a round of old rows; return how many went (0: nothing left to purge)."""
        params = {"retention_days": self._retention_days, "limit": USERS_PER_RUN}
        with self._pool.connection() as conn:
            users = [r["user_id"] for r in conn.execute(self._users, params)]
        purged = 0
        for user_id in users:
            if stopping.is_set():
                break
            with self._pool.connection() as conn:
                cursor = conn.execute(
                    self._purge,
                    {
                        "user_id": user_id,
                        "retention_days": self._retention_days,
                        "limit": ROWS_PER_STATEMENT,
                    },
                )
                purged += self.purged_by(cursor)
        if purged:
            PURGED.labels(self.kind).inc(purged)
        return purged

    def stop(self) -> None:
        """Nothing to release: every statement commits on its own."""
