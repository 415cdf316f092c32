"""Job: delete trash batches older than TRASH_RETENTION_DAYS for good, one user at a time."""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.metrics import PURGED

USERS_PER_RUN = 100
ROWS_PER_STATEMENT = 500


class PurgeTrash:
    """Purge trashed tasks and lists deleted more than `retention_days` ago.

    As for the other purges: a read across users finds whose trash is old, then a
    single-user statement deletes it, skipping locked rows (on Citus: one shard each).
    """

    name = "purge_trash"
    interval = 300.0

    def __init__(self, pool: ConnectionPool, queries: Queries, retention_days: int = 30) -> None:
        self._pool = pool
        self._users = queries["jobs/trash_expired_users"]
        self._purge = queries["jobs/trash_purge_user"]
        self._retention_days = retention_days

    def run_once(self, stopping: threading.Event) -> int:
        """Purge a round of old trash; return how many rows went (0: nothing left to purge)."""
        params = {"retention_days": self._retention_days, "limit": USERS_PER_RUN}
        with self._pool.connection() as conn:
            users = [r["user_id"] for r in conn.execute(self._users, params)]
        purged = 0
        for user_id in users:
            if stopping.is_set():
                break
            with self._pool.connection() as conn:
                row = conn.execute(
                    self._purge,
                    {
                        "user_id": user_id,
                        "retention_days": self._retention_days,
                        "limit": ROWS_PER_STATEMENT,
                    },
                ).fetchone()
            assert row is not None
            purged += int(row["purged"])
        if purged:
            PURGED.labels("trash").inc(purged)
        return purged

    def stop(self) -> None:
        """Nothing to release: every statement commits on its own."""
