"""The changes feed DAO: a user's tasks and lists changed after a position, in commit order.

Every write statement on tasks or lists takes the user's change counter in the same
statement (`tick` in sql/: INSERT ... ON CONFLICT DO UPDATE SET seq = seq + 1 on the user's
change_counters row, which stays row-locked until commit) and stamps what it writes with the
value. Two transactions of one user therefore hold counter values in the order they commit:
the second cannot take its value until the first has committed. A page read in one snapshot
that contains value N thus contains every other value below N, so a cursor at N never skips a
commit that lands later (docs/sync.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries

Row = dict[str, Any]

NIL = UUID(int=0)


@dataclass(frozen=True)
class ChangePosition:
    """Where a client's copy stands: after the change (seq, kind, id)."""

    seq: int
    kind: str
    id: UUID


# Before everything: rows written before the feed existed carry 0.
START = ChangePosition(seq=-1, kind="", id=NIL)


@dataclass(frozen=True)
class ChangePage:
    """The changes of one page, where the next begins, whether more follow."""

    rows: list[Row]
    next: ChangePosition
    has_more: bool


class CursorExpired(Exception):
    """The position lies below the user's horizon: a deletion it needs was purged."""


class ChangeStore:
    """Read one user's changes feed."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._page = queries["changes_page"]
        self._horizon = queries["changes_horizon"]
        self._reminders = queries["reminder_tasks_list"]

    def page(self, user_id: str, after: ChangePosition, limit: int) -> ChangePage:
        """Return up to `limit` changes after `after`; CursorExpired below the horizon."""
        params = {
            "user_id": user_id,
            "after_seq": after.seq,
            "after_kind": after.kind,
            "after_id": after.id,
            "limit": limit + 1,
        }
        with unit_of_work.connection(self._pool) as conn:
            rows = conn.execute(self._page, params).fetchall()
            # After the page: a tombstone purge that committed meanwhile shows here.
            horizon = conn.execute(self._horizon, {"user_id": user_id}).fetchone()
            # A task's data as GET answers it: with its reminders (none: []).
            tasks = {
                str(r["id"]): r["data"]
                for r in rows[:limit]
                if r["kind"] == "task" and r["data"] is not None
            }
            for data in tasks.values():
                data["reminders"] = []
            if tasks:
                found = conn.execute(self._reminders, {"user_id": user_id, "task_ids": list(tasks)})
                for reminders in found:
                    tasks[reminders["task_id"]]["reminders"] = reminders["reminders"]
        expired = 0 if horizon is None else horizon["expired_through"]
        if after is not START and expired and after.seq < expired:
            raise CursorExpired
        has_more = len(rows) > limit
        rows = rows[:limit]
        following = after
        if rows:
            last = rows[-1]
            following = ChangePosition(seq=last["seq"], kind=last["kind"], id=last["id"])
        for row in rows:
            del row["seq"]
            row["id"] = str(row["id"])
        return ChangePage(rows=rows, next=following, has_more=has_more)
