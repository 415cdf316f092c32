"""The task DAO: thin methods over the SQL in sql/, every one scoped to a user_id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.listing_store import ListingStore
from service.queries import Queries

Row = dict[str, Any]

# The fields a client may write, in the order of the task_update parameters.
WRITABLE_FIELDS = ("title", "description", "completed", "priority", "due_at", "tags", "order")

TASK_DEFAULTS: Mapping[str, Any] = {
    "description": None,
    "completed": False,
    "priority": "normal",
    "due_at": None,
    "tags": [],
    "order": None,
}


class TaskStore:
    """Read and write one user's tasks; a task of another user is indistinguishable from none."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        # Resolve every statement now, so a missing SQL file fails at start-up, not mid-request.
        self._get = queries["task_get"]
        self._insert = queries["task_insert"]
        self._update = queries["task_update"]
        self._toggle = queries["task_toggle"]
        self._delete = queries["task_delete"]
        # Pages, bulk changes and counts over the user's tasks (service/listing_store.py).
        self.listing = ListingStore(pool, queries)

    def _one(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        with self._pool.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def get(self, user_id: str, task_id: UUID) -> Row | None:
        """Return the task, or None when this user has no task with this id."""
        return self._one(self._get, {"user_id": user_id, "task_id": task_id})

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        """Insert a task from validated fields (defaults fill the rest) and return it."""
        params = {**TASK_DEFAULTS, **fields, "user_id": user_id}
        row = self._one(self._insert, params)
        assert row is not None  # INSERT ... RETURNING always yields the row
        return row

    def update(self, user_id: str, task_id: UUID, changes: Mapping[str, Any]) -> Row | None:
        """Apply `changes` (validated, possibly partial) and return the task, or None if absent.

        A change that alters nothing returns the stored task untouched (same version).
        """
        params: dict[str, Any] = {"user_id": user_id, "task_id": task_id}
        for name in WRITABLE_FIELDS:
            params[f"set_{name}"] = name in changes
            params[name] = changes.get(name)
        row = self._one(self._update, params)
        if row is None:
            # Either nothing changed or there is no such task: the stored row tells which.
            return self.get(user_id, task_id)
        return row

    def toggle(self, user_id: str, task_id: UUID) -> Row | None:
        """Flip the task's completed flag and return it, or None if absent."""
        return self._one(self._toggle, {"user_id": user_id, "task_id": task_id})

    def delete(self, user_id: str, task_id: UUID) -> Row | None:
        """Delete the task and return what it was, or None if absent."""
        return self._one(self._delete, {"user_id": user_id, "task_id": task_id})
