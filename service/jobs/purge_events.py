"""Job: delete outbox events past their retention, with their deliveries, one user at a time."""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.metrics import PURGED

# Seven days: the 3-day retry window, plus time to read GET .../deliveries afterwards.
RETENTION_DAYS = 7
USERS_PER_RUN = 100
ROWS_PER_STATEMENT = 500


class PurgeEvents:
    """Purge events older than RETENTION_DAYS whose deliveries have all finished.

    As for the other purges: a read across users finds whose events are old, then a
    single-user statement deletes them, skipping locked rows (on Citus: one shard each).
    """

    name = "purge_events"
    interval = 300.0

    def __init__(
        self, pool: ConnectionPool, queries: Queries, retention_days: int = RETENTION_DAYS
    ) -> None:
        self._pool = pool
        self._users = queries["jobs/events_expired_users"]
        self._purge = queries["jobs/events_purge_user"]
        self._retention_days = retention_days

    def run_once(self, stopping: threading.Event) -> int:
        """Purge a round of old events; return how many went (0: nothing left to purge)."""
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
                purged += cursor.rowcount
        if purged:
            PURGED.labels("events").inc(purged)
        return purged

    def stop(self) -> None:
        """Nothing to release: every statement commits on its own."""
