"""Job: delete Idempotency-Key records older than 24 hours, one user at a time."""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.metrics import PURGED

# Users per look and rows per user per statement: short statements, short locks.
USERS_PER_RUN = 100
ROWS_PER_STATEMENT = 500


class PurgeIdempotencyKeys:
    """Purge expired Idempotency-Key records (the request path ignores them already).

    First a read across users finds who has expired records, then each user's are deleted
    by a single-user statement that skips locked rows (on Citus: one shard each).
    """

    name = "purge_idempotency_keys"
    interval = 60.0

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._users = queries["jobs/idempotency_expired_users"]
        self._purge = queries["jobs/idempotency_purge_user"]

    def run_once(self, stopping: threading.Event) -> int:
        """Purge a round of expired records; return how many rows went (0: nothing left)."""
        with self._pool.connection() as conn:
            users = [r["user_id"] for r in conn.execute(self._users, {"limit": USERS_PER_RUN})]
        purged = 0
        for user_id in users:
            if stopping.is_set():
                break
            with self._pool.connection() as conn:
                cursor = conn.execute(
                    self._purge, {"user_id": user_id, "limit": ROWS_PER_STATEMENT}
                )
                purged += cursor.rowcount
        if purged:
            PURGED.labels("idempotency_keys").inc(purged)
        return purged

    def stop(self) -> None:
        """Nothing to release: every statement commits on its own."""
