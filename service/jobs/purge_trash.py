"""Job: delete trash batches older than TRASH_RETENTION_DAYS for good, one user at a time."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from service.data.queries import Queries
from service.jobs.retention_purge import RetentionPurge


class PurgeTrash(RetentionPurge):
    """Purge trashed tasks and lists deleted more than `retention_days` ago."""

    name = "purge_trash"
    kind = "trash"
    users_statement = "jobs/trash_expired_users"
    purge_statement = "jobs/trash_purge_user"

    def __init__(self, pool: ConnectionPool, queries: Queries, retention_days: int = 30) -> None:
        super().__init__(pool, queries, retention_days)
