"""The webhook DAO: a user's subscriptions and their delivery attempts, scoped to a user_id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries

Row = dict[str, Any]

# The fields a client may change with PATCH.
WRITABLE_FIELDS = ("url", "events", "enabled")
# How many attempts GET .../deliveries shows.
RECENT_DELIVERIES = 100


class WebhookStore:
    """Read and write one user's webhooks; another user's webhook is indistinguishable from none."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._insert = queries["webhook_insert"]
        self._list = queries["webhook_list"]
        self._get = queries["webhook_get"]
        self._update = queries["webhook_update"]
        self._delete = queries["webhook_delete"]
        self._deliveries = queries["webhook_deliveries"]

    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        # The request's transaction when one is bound (Idempotency-Key), else autocommit.
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def create(self, user_id: str, url: str, events: list[str], secret: str) -> Row:
        """Insert a webhook and return it (without its secret)."""
        params = {"user_id": user_id, "url": url, "events": events, "secret": secret}
        row = self._one(self._insert, params)
        assert row is not None  # INSERT ... RETURNING always yields the row
        return row

    def list(self, user_id: str) -> list[Row]:
        """Return the user's webhooks, oldest first."""
        return self._rows(self._list, {"user_id": user_id})

    def get(self, user_id: str, webhook_id: UUID) -> Row | None:
        """Return the webhook, or None when this user has none with this id."""
        return self._one(self._get, {"user_id": user_id, "webhook_id": webhook_id})

    def update(self, user_id: str, webhook_id: UUID, changes: Mapping[str, Any]) -> Row | None:
        """Apply the validated `changes` and return the webhook, or None if absent."""
        params: dict[str, Any] = {"user_id": user_id, "webhook_id": webhook_id}
        for name in WRITABLE_FIELDS:
            params[f"set_{name}"] = name in changes
            params[name] = changes.get(name)
        row = self._one(self._update, params)
        return row if row is not None else self.get(user_id, webhook_id)

    def delete(self, user_id: str, webhook_id: UUID) -> Row | None:
        """Delete the webhook with its deliveries and return what it was, or None if absent."""
        return self._one(self._delete, {"user_id": user_id, "webhook_id": webhook_id})

    def deliveries(self, user_id: str, webhook_id: UUID) -> list[Row]:
        """Return the webhook's recent delivery attempts, newest first."""
        params = {"user_id": user_id, "webhook_id": webhook_id, "limit": RECENT_DELIVERIES}
        return self._rows(self._deliveries, params)
