"""Job: delete changes-feed tombstones past their retention (90 days), one user at a time."""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.metrics import PURGED

# The contract's tombstone retention: a feed cursor older than this may be answered 410.
RETENTION_DAYS = 90
USERS_PER_RUN = 100
ROWS_PER_STATEMENT = 500


class PurgeTombstones:
    """Purge tombstones older than RETENTION_DAYS and raise each user's feed horizon.

    As for the other purges: a read across users finds whose tombstones are old, then a
    single-user statement deletes them and records the horizon, skipping locked rows.
    """

    name = "purge_tombstones"
    interval = 300.0

    def __init__(
        self, pool: ConnectionPool, queries: Queries, retention_days: int = RETENTION_DAYS
    ) -> None:
        self._pool = pool
        self._users = queries["jobs/tombstones_expired_users"]
        self._purge = queries["jobs/tombstones_purge_user"]
        self._retention_days = retention_days

    def run_once(self, stopping: threading.Event) -> int:
        """Purge a round of old tombstones; return how many went (0: nothing left to purge)."""
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
            PURGED.labels("tombstones").inc(purged)
        return purged

    def stop(self) -> None:
        """Nothing to release: every statement commits on its own."""
