"""Job: delete changes-feed tombstones past their retention (90 days), one user at a time."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.retention_purge import RetentionPurge

# The contract's tombstone retention: a feed cursor older than this may be answered 410.
RETENTION_DAYS = 90


class PurgeTombstones(RetentionPurge):
    """Purge tombstones older than RETENTION_DAYS and raise each user's feed horizon."""

    name = "purge_tombstones"
    kind = "tombstones"
    users_statement = "jobs/tombstones_expired_users"
    purge_statement = "jobs/tombstones_purge_user"

    def __init__(
        self, pool: ConnectionPool, queries: Queries, retention_days: int = RETENTION_DAYS
    ) -> None:
        super().__init__(pool, queries, retention_days)
