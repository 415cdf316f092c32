"""Recurring tasks in the database: complete an occurrence, undo the latest, list the record.

Completing a recurring task completes its current occurrence: in one transaction the task
is locked, the next occurrence is computed (service/domain/recurrence.py), a completion
record is written, and the same task moves on to the next occurrence with its sub-tasks
reopened; when COUNT or UNTIL is used up it is completed for good instead, the ordinary way.

The ordinary completion statements (toggle, update, bulk) leave open recurring tasks alone,
so a write that does not involve a recurring task costs nothing more; when one of them finds
nothing to do, the caller asks `complete` here, which decides under the row lock. Every path
runs in the request's transaction when one is bound (Idempotency-Key: a savepoint inside
it, so a replay never advances twice), else in a transaction of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.outbox import Outbox, task_payload
from service.data.preconditions import PreconditionFailed
from service.data.queries import Queries
from service.data.reminders import ReminderStore
from service.domain.recurrence import (
    Occurrence,
    Series,
    midnight,
    parse_rule,
    resolve,
    wall_time,
)
from service.domain.tree import RuleViolation

Row = dict[str, Any]
# The constraint a CHECK violation names in PostgreSQL's message (see violated_constraint).
_CONSTRAINT_IN_MESSAGE = re.compile(r'violates check constraint "([^"]+)"')


@dataclass(frozen=True, slots=True)
class Outcome:
    """What completing a task did: `row` is the task after it (None: no such task)."""

    row: Row | None
    # True when an occurrence of a recurring task was completed (the record was written).
    recurred: bool


class NothingToUndo(Exception):
    """The task has no completion record left to undo."""


NEEDS_DUE = "A recurring task needs due_at or due_date."
NO_RULE = "The task has no recurrence to merge with: give the rule."


def recurrence_params(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Return the task_update parameters of a (merge-patch) `recurrence` change."""
    recurrence = changes.get("recurrence")
    given = recurrence if isinstance(recurrence, dict) else {}
    return {
        "clear_recurrence": "recurrence" in changes and recurrence is None,
        "set_recurrence_rule": "rule" in given,
        "recurrence_rule": given.get("rule"),
        "set_recurrence_basis": "basis" in given,
        "recurrence_basis": given.get("basis"),
    }


def violated_constraint(error: psycopg.Error) -> str | None:
    """Return the name of the constraint `error` reports.

    A Citus coordinator relays a worker's error without its constraint_name field, so the
    name is then read from the (English) message: ... violates check constraint "name".
    """
    if error.diag.constraint_name:
        return error.diag.constraint_name
    match = _CONSTRAINT_IN_MESSAGE.search(error.diag.message_primary or "")
    return match.group(1) if match else None


@contextmanager
def translate_violations(fields: Mapping[str, Any]) -> Iterator[None]:
    """Turn the recurrence CHECK constraints a task write hit into RuleViolation (a 422).

    The database is where "a recurring task needs a due" holds against every write (a PATCH
    clearing the due, a rule added to a task without one); `fields` (what the request sent)
    tells which field to name.
    """
    try:
        yield
    except psycopg.errors.CheckViolation as error:
        constraint = violated_constraint(error)
        if constraint == "tasks_recurrence_needs_due":
            if fields.get("recurrence"):
                raise RuleViolation("recurrence", NEEDS_DUE) from None
            field = "due_date" if "due_date" in fields and "due_at" not in fields else "due_at"
            raise RuleViolation(field, NEEDS_DUE) from None
        if constraint == "tasks_recurrence_together":
            raise RuleViolation("recurrence.rule", NO_RULE) from None
        raise


def zone_of(name: str) -> ZoneInfo:
    """Return the zone named `name`; UTC for a name the shipped database does not know.

    Names are checked when they are written; a database-side name the service's tzdata
    lacks (a newer zone) is read as UTC rather than failing the completion.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def series_of(locked: Row) -> tuple[Series, Occurrence]:
    """Return the series of a locked task row and its current occurrence."""
    zone = zone_of(locked["zone"])
    all_day = locked["due_date"] is not None
    series = Series(
        parse_rule(locked["recurrence_rule"]), locked["recurrence_basis"], zone, all_day
    )
    wall = locked["recurrence_wall"]
    if wall is None:
        # No anchor kept: the client set the due (or zone, or rule) since the last advance.
        wall = midnight(locked["due_date"]) if all_day else wall_time(locked["due_at"], zone)
    return series, series.occurrence(wall, locked["recurrence_index"])


def due_params(occurrence: Occurrence, zone: ZoneInfo) -> dict[str, Any]:
    """Return the due columns of an occurrence: one form set, due_date_start beside a date."""
    day: date | None = occurrence.due_date
    return {
        "due_at": occurrence.due_at,
        "due_date": day,
        "due_date_start": None if day is None else resolve(midnight(day), zone),
    }


class RecurrenceStore:
    """Complete, undo and list the occurrences of one user's recurring tasks."""

    def __init__(self, pool: ConnectionPool, queries: Queries, reminders: ReminderStore) -> None:
        self._pool = pool
        # Relative reminders follow the due when an occurrence moves it.
        self._reminders = reminders
        self._lock = queries["task_recurrence_lock"]
        self._advance = queries["task_recurrence_advance"]
        self._restore = queries["task_recurrence_restore"]
        self._record = queries["task_completion_insert"]
        self._latest = queries["task_completion_latest"]
        self._forget = queries["task_completion_delete"]
        self._list = queries["task_completions_list"]
        self._open_recurring = queries["task_recurring_open_ids"]
        self._get = queries["task_get"]
        self._outbox = Outbox(pool, queries)

    def complete(
        self,
        user_id: str,
        task_id: UUID,
        if_versions: Collection[int] | None,
        *,
        ordinary: Callable[[], Row | None],
        finish: Callable[[], Row | None],
        before: Callable[[], Row | None] | None = None,
    ) -> Outcome:
        """Complete the task's current occurrence if it is an open recurring task.

        Under the row lock: `before` (the request's other fields, if any) is applied first;
        then a task that is not (or no longer) open and recurring takes the `ordinary` path
        (the caller's own statement, run inside this transaction); an occurrence with a
        next one moves the task there; the last one is completed for good by `finish` (the
        ordinary completion with its cascade). Raises PreconditionFailed when
        `if_versions` does not hold the task's version.
        """
        params = {"user_id": user_id, "task_id": task_id}
        with unit_of_work.transaction(self._pool) as conn:
            locked = conn.execute(self._lock, params).fetchone()
            if locked is None:
                return Outcome(None, recurred=False)
            if if_versions is not None and locked["version"] not in if_versions:
                raise PreconditionFailed
            version = locked["version"]
            if before is not None:
                before()
                locked = conn.execute(self._lock, params).fetchone()
                assert locked is not None  # locked above, in this transaction
            if locked["recurrence_rule"] is None or locked["completed"]:
                return Outcome(ordinary(), recurred=False)
            series, current = series_of(locked)
            following = series.next_after(current, locked["now"])
            conn.execute(
                self._record,
                {
                    **params,
                    "seq": (locked["last_seq"] or 0) + 1,
                    "occurrence_due": locked["due_at"],
                    "occurrence_date": locked["due_date"],
                    "completed_at": locked["now"],
                    "occurrence_wall": current.wall,
                    "occurrence_index": current.index,
                },
            )
            if following is None:
                return Outcome(finish(), recurred=True)
            conn.execute(
                self._advance,
                {
                    **params,
                    **due_params(following, series.zone),
                    "wall": following.wall,
                    "index": following.index,
                    # One request, one version step: `before` may have taken it already.
                    "bump": 1 if locked["version"] == version else 0,
                },
            )
            self._reminders.refresh(user_id, task_id)
            row = conn.execute(self._get, params).fetchone()
            if row is not None:
                # The occurrence's task.completed, in this transaction (the outbox): the task
                # as it now stands, open at its next occurrence.
                self._outbox.emit(user_id, "task.completed", task_payload(user_id, row))
            return Outcome(row, recurred=True)

    def complete_open_recurring(self, user_id: str, finish: Callable[[UUID], Row | None]) -> int:
        """Complete the current occurrence of every open recurring task of the user.

        The bulk completion's second half (its statement leaves these alone); returns how
        many tasks changed. `finish` completes one task for good (its series ended).
        """
        changed = 0
        with unit_of_work.transaction(self._pool) as conn:
            ids = [row["id"] for row in conn.execute(self._open_recurring, {"user_id": user_id})]
            for task_id in ids:
                outcome = self.complete(
                    user_id,
                    task_id,
                    None,
                    ordinary=lambda: None,
                    finish=lambda task_id=task_id: finish(task_id),
                )
                changed += outcome.recurred
        return changed

    def undo_latest(
        self,
        user_id: str,
        task_id: UUID,
        if_versions: Collection[int] | None,
        *,
        reopen: Callable[[], Row | None],
    ) -> Row | None:
        """Undo the task's latest completion: the due moves back and the task is open.

        Returns the task, None when there is no such task; raises NothingToUndo when it has
        no completion record, PreconditionFailed on a version `if_versions` does not hold.
        `reopen` is the ordinary reopen (with its cascade), used when the completion had
        ended the series.
        """
        params = {"user_id": user_id, "task_id": task_id}
        with unit_of_work.transaction(self._pool) as conn:
            locked = conn.execute(self._lock, params).fetchone()
            if locked is None:
                return None
            if if_versions is not None and locked["version"] not in if_versions:
                raise PreconditionFailed
            latest = conn.execute(self._latest, params).fetchone()
            if latest is None:
                raise NothingToUndo
            conn.execute(self._forget, {**params, "seq": latest["seq"]})
            day = latest["occurrence_date"]
            zone = zone_of(locked["zone"])
            conn.execute(
                self._restore,
                {
                    **params,
                    "due_at": latest["occurrence_due"],
                    "due_date": day,
                    "due_date_start": None if day is None else resolve(midnight(day), zone),
                    "wall": latest["occurrence_wall"],
                    "index": latest["occurrence_index"],
                },
            )
            self._reminders.refresh(user_id, task_id)
            if locked["completed"]:
                return reopen()
            return conn.execute(self._get, params).fetchone()

    def completions(self, user_id: str, task_id: UUID) -> list[Row] | None:
        """Return the task's completion records, newest first; None when there is no task."""
        with unit_of_work.connection(self._pool) as conn:
            rows = conn.execute(self._list, {"user_id": user_id, "task_id": task_id}).fetchall()
        if not rows:
            return None
        return [
            {"occurrence_due": row["occurrence_due"], "completed_at": row["completed_at"]}
            for row in rows
            if row["seq"] is not None
        ]
