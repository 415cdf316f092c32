"""The list DAO: a user's task lists with their open counts, every statement scoped to a user.

A list's `open_count` is counted when it is read (its open tasks, sub-tasks included, on the
tasks' tree index) rather than kept in a column: a counter on the list row would make every
task create and toggle also write, and lock, the list's row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.preconditions import PreconditionFailed
from service.data.queries import Queries
from service.domain import positions
from service.domain.tree import RuleViolation

Row = dict[str, Any]

MAX_LISTS = 1000


class ListStore:
    """Read and write one user's lists; another user's list is indistinguishable from none."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._lock = queries["list_lock"]
        self._count = queries["list_count"]
        self._insert = queries["list_insert"]
        self._get = queries["list_get"]
        self._all = queries["list_all"]
        self._update = queries["list_update"]

    def all(self, user_id: str) -> list[Row]:
        """Return the user's lists in position order, each with its open_count."""
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(self._all, {"user_id": user_id}).fetchall()

    def get(self, user_id: str, list_id: UUID) -> Row | None:
        """Return the list, or None when this user has no list with this id."""
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(self._get, {"user_id": user_id, "list_id": list_id}).fetchone()

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        """Create a list at the end of the user's lists; RuleViolation past 1,000 lists.

        The list.created event commits with it (sql/list_insert.sql).
        """
        params = {
            "user_id": user_id,
            "name": fields["name"],
            "color": fields.get("color"),
            "position": positions.creation_key(),
        }
        with unit_of_work.connection(self._pool) as conn, conn.transaction():
            conn.execute(self._lock, {"user_id": user_id})
            count = conn.execute(self._count, {"user_id": user_id}).fetchone()
            assert count is not None
            if count["lists"] >= MAX_LISTS:
                raise RuleViolation("", f"A user has at most {MAX_LISTS} lists.")
            # The list as list_get reads it; its list.created event is written with it.
            created = conn.execute(self._insert, params).fetchone()
            assert created is not None
            return created

    def update(
        self,
        user_id: str,
        list_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None = None,
    ) -> Row | None:
        """Apply `changes` and return the list, or None if absent (PreconditionFailed on If-Match).

        A change that alters nothing returns the stored list untouched (same version) and
        records no event; a real change records list.updated with it (sql/list_update.sql).
        """
        params: dict[str, Any] = {
            "user_id": user_id,
            "list_id": list_id,
            "if_versions": None if if_versions is None else list(if_versions),
        }
        for name in ("name", "color"):
            params[f"set_{name}"] = name in changes
            params[name] = changes.get(name)
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._update, params).fetchone()
        if row is None:
            current = self.get(user_id, list_id)
            if current is not None and if_versions is not None:
                if current["version"] not in if_versions:
                    raise PreconditionFailed
            return current
        return row
