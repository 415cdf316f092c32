"""The task DAO: thin methods over the SQL in sql/, every one scoped to a user_id."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.listing import ListingStore
from service.data.queries import Queries

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


class PreconditionFailed(Exception):
    """The task exists but its version is none of those the write was conditional on."""


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
        # Pages, bulk changes and counts over the user's tasks (service/data/listing.py).
        self.listing = ListingStore(pool, queries)

    def _one(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        # The request's transaction when one is bound (Idempotency-Key), else autocommit.
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(sql, params).fetchone()

    def _absent_or_mismatch(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None
    ) -> None:
        """Explain a conditional write that touched no row: absent (None) or a mismatch."""
        if if_versions is not None and self.get(user_id, task_id) is not None:
            raise PreconditionFailed

    def get(self, user_id: str, task_id: UUID) -> Row | None:
        """Return the task, or None when this user has no task with this id."""
        return self._one(self._get, {"user_id": user_id, "task_id": task_id})

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        """Insert a task from validated fields (defaults fill the rest) and return it."""
        params = {**TASK_DEFAULTS, **fields, "user_id": user_id}
        row = self._one(self._insert, params)
        assert row is not None  # INSERT ... RETURNING always yields the row
        return row

    def update(
        self,
        user_id: str,
        task_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None = None,
    ) -> Row | None:
        """Apply `changes` (validated, possibly partial) and return the task, or None if absent.

        A change that alters nothing returns the stored task untouched (same version).
        With `if_versions`, the write happens only while the task's version is one of them
        (checked in the UPDATE itself); otherwise `PreconditionFailed` is raised.
        """
        params: dict[str, Any] = {
            "user_id": user_id,
            "task_id": task_id,
            "if_versions": _versions(if_versions),
        }
        for name in WRITABLE_FIELDS:
            params[f"set_{name}"] = name in changes
            params[name] = changes.get(name)
        row = self._one(self._update, params)
        if row is None:
            # No such task, a version mismatch, or nothing to change: the stored row tells which.
            current = self.get(user_id, task_id)
            if current is not None and if_versions is not None:
                if current["version"] not in if_versions:
                    raise PreconditionFailed
            return current
        return row

    def toggle(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None = None
    ) -> Row | None:
        """Flip the task's completed flag and return it, or None if absent.

        With `if_versions`, only while the task's version is one of them, else
        `PreconditionFailed`.
        """
        return self._conditional(self._toggle, user_id, task_id, if_versions)

    def delete(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None = None
    ) -> Row | None:
        """Delete the task and return what it was, or None if absent.

        With `if_versions`, only while the task's version is one of them, else
        `PreconditionFailed`.
        """
        return self._conditional(self._delete, user_id, task_id, if_versions)

    def _conditional(
        self, sql: str, user_id: str, task_id: UUID, if_versions: Collection[int] | None
    ) -> Row | None:
        params = {"user_id": user_id, "task_id": task_id, "if_versions": _versions(if_versions)}
        row = self._one(sql, params)
        if row is None:
            self._absent_or_mismatch(user_id, task_id, if_versions)
        return row


def _versions(if_versions: Collection[int] | None) -> list[int] | None:
    # NULL means unconditional; an empty array matches no version at all.
    return None if if_versions is None else list(if_versions)
