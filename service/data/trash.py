"""The trash DAO: soft deletes in batches, the trash's pages, restore and purge.

A delete moves what it names (a task with its sub-tree, the matching tasks, a list with its
tasks) to the trash as one batch: the rows stay, with `deleted_at` and a fresh `batch_id`,
and every read, count and bulk change leaves them out (their statements filter on
`deleted_at IS NULL`). Each write here records its webhook event (service/data/outbox.py) in
the same transaction: task.deleted by the delete statements themselves (one event per task,
as docs/webhooks.md says of every task write), list.deleted, task.restored and task.purged
through Outbox.emit in the transaction of the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.outbox import Outbox, tasks_url
from service.data.queries import Queries

Row = dict[str, Any]


@dataclass(frozen=True)
class TrashPosition:
    """Where a trash page ends: the last entry's deletion time and id."""

    deleted_at: datetime
    id: UUID


@dataclass(frozen=True)
class TrashPage:
    """Entries of one page and, when more follow, the position after the last."""

    rows: list[Row]
    next: TrashPosition | None


def _versions(if_versions: Collection[int] | None) -> list[int] | None:
    # NULL means unconditional; an empty array matches no version at all.
    return None if if_versions is None else list(if_versions)


class TrashStore:
    """Move a user's tasks and lists to the trash, page it, restore and purge batches."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._outbox = Outbox(pool, queries)
        self._delete_task = queries["task_delete"]
        self._delete_matching = queries["task_delete_matching"]
        self._delete_list = queries["list_delete"]
        self._page = queries["trash_page"]
        self._restore = queries["trash_restore"]
        self._purge_batch = queries["trash_purge_batch"]
        self._purge_all = queries["trash_purge_all"]

    def delete_task(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None
    ) -> Row | None:
        """Trash the task with its sub-tree as one batch; return it (batch_id set) or None."""
        params = {
            "user_id": user_id,
            "task_id": task_id,
            "if_versions": _versions(if_versions),
            "batch_id": uuid.uuid4(),
            # The statement records task.deleted (each task, with its url) itself.
            "tasks_url": tasks_url(user_id),
        }
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(self._delete_task, params).fetchone()

    def delete_matching(self, user_id: str, completed: bool | None) -> tuple[int, str]:
        """Trash the live tasks matching `completed` (None: all) as one batch.

        Return how many tasks went (sub-tasks included) and the batch's id.
        """
        batch_id = uuid.uuid4()
        params = {
            "user_id": user_id,
            "completed": completed,
            "batch_id": batch_id,
            # The statement records task.deleted (each task, with its url) itself.
            "tasks_url": tasks_url(user_id),
        }
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._delete_matching, params).fetchone()
        assert row is not None  # an aggregate without GROUP BY always yields one row
        return row["changed"], str(batch_id)

    def delete_list(
        self, user_id: str, list_id: UUID, if_versions: Collection[int] | None
    ) -> Row | None:
        """Trash the list with its tasks as one batch; return it (batch_id set) or None."""
        params = {
            "user_id": user_id,
            "list_id": list_id,
            "if_versions": _versions(if_versions),
            "batch_id": uuid.uuid4(),
        }
        with unit_of_work.transaction(self._pool) as conn:
            row = conn.execute(self._delete_list, params).fetchone()
            if row is not None:
                self._outbox.emit(
                    user_id, "list.deleted", {"id": row["id"], "batch_id": row["batch_id"]}
                )
        return row

    def page(self, user_id: str, limit: int, after: TrashPosition | None) -> TrashPage:
        """Return up to `limit` trash entries after `after`, newest deletion first."""
        params = {
            "user_id": user_id,
            "after_at": None if after is None else after.deleted_at,
            "after_id": None if after is None else after.id,
            # One more than asked tells whether another page exists, without counting.
            "limit": limit + 1,
        }
        with unit_of_work.connection(self._pool) as conn:
            rows = conn.execute(self._page, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        following = None
        if more:
            following = TrashPosition(deleted_at=rows[-1]["at"], id=rows[-1]["id"])
        for row in rows:
            del row["at"], row["id"]
        return TrashPage(rows=rows, next=following)

    def restore(self, user_id: str, batch_id: UUID) -> int:
        """Bring batch `batch_id` back (with trashed ancestors and lists); return how many.

        0 means the batch is not in the trash.
        """
        params = {"user_id": user_id, "batch_id": batch_id}
        with unit_of_work.transaction(self._pool) as conn:
            row = conn.execute(self._restore, params).fetchone()
            assert row is not None  # an aggregate without GROUP BY always yields one row
            restored = int(row["restored"])
            if restored:
                self._outbox.emit(
                    user_id, "task.restored", {"batch_id": str(batch_id), "restored": restored}
                )
        return restored

    def purge(self, user_id: str, batch_id: UUID | None) -> int:
        """Delete batch `batch_id` (None: the whole trash) for good; return how many went."""
        with unit_of_work.transaction(self._pool) as conn:
            if batch_id is None:
                row = conn.execute(self._purge_all, {"user_id": user_id}).fetchone()
            else:
                params = {"user_id": user_id, "batch_id": batch_id}
                row = conn.execute(self._purge_batch, params).fetchone()
            assert row is not None
            purged = int(row["purged"])
            if purged:
                data = {"batch_id": None if batch_id is None else str(batch_id), "purged": purged}
                self._outbox.emit(user_id, "task.purged", data)
        return purged
