"""The service's own random keys, created once in the database and shared by every process."""

from __future__ import annotations

import secrets

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries

KEY_BYTES = 32


class ServiceKeys:
    """Read a named key from `service_keys`, creating a random one the first time."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._get_or_create = queries["service_key_get_or_create"]

    def get(self, name: str) -> bytes:
        """Return the key `name`; every process and instance on this database gets the same."""
        candidate = secrets.token_bytes(KEY_BYTES)
        # Twice at most: the second run's snapshot sees a key a concurrent caller committed.
        for _ in range(2):
            with unit_of_work.connection(self._pool) as conn:
                row = conn.execute(
                    self._get_or_create, {"name": name, "secret": candidate}
                ).fetchone()
            if row is not None:
                return bytes(row["secret"])
        raise LookupError(f"service key {name!r} could be neither created nor read")
