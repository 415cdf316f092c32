"""Job: delete outbox events past their retention, with their deliveries, one user at a time."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.retention_purge import RetentionPurge

# Seven days: the 3-day retry window, plus time to read GET .../deliveries afterwards.
RETENTION_DAYS = 7


class PurgeEvents(RetentionPurge):
    """Purge events older than RETENTION_DAYS whose deliveries have all finished."""

    name = "purge_events"
    kind = "events"
    users_statement = "jobs/events_expired_users"
    purge_statement = "jobs/events_purge_user"

    def __init__(
        self, pool: ConnectionPool, queries: Queries, retention_days: int = RETENTION_DAYS
    ) -> None:
        super().__init__(pool, queries, retention_days)

    def purged_by(self, cursor: psycopg.Cursor) -> int:
        """Return the events the DELETE removed (it answers no count of its own)."""
        return cursor.rowcount
