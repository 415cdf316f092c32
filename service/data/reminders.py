"""Reminders in the database: a task's set (replaced whole), its recompute, snooze and ack.

Every statement here is one user's (request path). A task's set is written in the
transaction of the task write that carries it; relative reminders follow the due: whoever
moves a due (a client write, a recurring task advancing, an undo) calls `refresh` in the
same transaction. The firing is the worker's (service/jobs/fire_reminders.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.outbox import tasks_url
from service.data.queries import Queries
from service.domain.reminders import LATE_WINDOW, plan_replacement
from service.domain.tree import RuleViolation

Row = dict[str, Any]

NEEDS_DUE = "A reminder with before_due needs the task's due_at or due_date."


@contextmanager
def translate_missing_due(field: str) -> Iterator[None]:
    """Turn a relative reminder left without a due (fire_at NOT NULL) into a 422 on `field`."""
    try:
        yield
    except psycopg.errors.NotNullViolation as error:
        # Only reminders have a fire_at. The message, not diag: a Citus coordinator relays a
        # worker's error without its fields (and names the shard, reminders_102008).
        if error.diag.column_name == "fire_at" or '"fire_at"' in str(error):
            raise RuleViolation(field, NEEDS_DUE) from None
        raise


def refresh_params(user_id: str, task_ids: Sequence[Any]) -> dict[str, Any]:
    """Return the parameters of reminder_refresh for some of the user's tasks."""
    return {
        "user_id": user_id,
        "task_ids": list(task_ids),
        "missed_before": datetime.now(UTC) - LATE_WINDOW,
    }


class ReminderStore:
    """Read and write one user's reminders; another user's is indistinguishable from none."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._task_list = queries["reminder_task_list"]
        self._forms = queries["reminder_task_forms"]
        self._delete = queries["reminder_delete_ids"]
        self._insert = queries["reminder_insert"]
        self._refresh = queries["reminder_refresh"]
        self._list = queries["reminder_list"]
        self._set_state = queries["reminder_set_state"]
        self._counted = queries["task_reminders_counted"]

    def of_task(self, user_id: str, task_id: Any) -> list[Row]:
        """Return the task's reminders as the task's `reminders` field (none: [])."""
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._task_list, {"user_id": user_id, "task_id": task_id}).fetchone()
        assert row is not None  # an aggregate always yields a row
        return row["reminders"]

    def replace(
        self, user_id: str, task_id: Any, wanted: Sequence[Mapping[str, Any]], task: Row
    ) -> None:
        """Make the task's reminders exactly `wanted`, keeping unchanged ones (id, state).

        Call it in the transaction of the task write, with the task as written (`task`):
        a relative reminder on a task without a due is a 422 naming it. A change of the set
        is a change of the task: `task` takes the version and updated_at it moved to.
        """
        if task.get("due_at") is None and task.get("due_date") is None:
            for index, item in enumerate(wanted):
                if item.get("before_due") is not None:
                    raise RuleViolation(f"reminders.{index}.before_due", NEEDS_DUE)
        params = {"user_id": user_id, "task_id": task_id}
        with unit_of_work.connection(self._pool) as conn:
            stored = conn.execute(self._forms, params).fetchall()
            remove, add = plan_replacement(stored, wanted)
            if remove:
                conn.execute(self._delete, {**params, "ids": remove})
            if add:
                now = datetime.now(UTC)
                conn.execute(
                    self._insert,
                    {
                        **params,
                        "ats": [at for at, _ in add],
                        "befores": [before for _, before in add],
                        "missed_before": now - LATE_WINDOW,
                        "created_at": now,
                    },
                )
            if remove or add:
                # A change of the set alone also records the task's task.updated event.
                counted = {**params, "tasks_url": tasks_url(user_id)}
                moved = conn.execute(self._counted, counted).fetchone()
                if moved is not None:
                    task["version"], task["updated_at"] = moved["version"], moved["updated_at"]

    def refresh(self, user_id: str, task_id: Any, field: str = "due_at") -> None:
        """Recompute the task's relative reminders from its due (in the caller's transaction).

        A task left without a due while it has relative reminders is a 422 naming `field`.
        """
        with translate_missing_due(field), unit_of_work.connection(self._pool) as conn:
            conn.execute(self._refresh, refresh_params(user_id, [task_id]))

    def list(self, user_id: str, state: str | None, limit: int) -> list[Row]:
        """Return the user's reminders (of one state, if given), newest first."""
        params = {"user_id": user_id, "state": state, "limit": limit}
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(self._list, params).fetchall()

    def set_state(
        self, user_id: str, reminder_id: UUID, state: str, fire_at: datetime | None = None
    ) -> Row | None:
        """Snooze (with `fire_at`) or acknowledge a reminder; None when there is no such one."""
        params = {
            "user_id": user_id,
            "reminder_id": reminder_id,
            "state": state,
            "fire_at": fire_at,
        }
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(self._set_state, params).fetchone()
