"""The task DAO: thin methods over the SQL in sql/, every one scoped to a user_id.

A plain write (no list, parent, all-day date or zone involved) is one statement in
autocommit, as in v1. A write that places a task (list_id, parent_id, the move endpoint) or
dates it all-day reads what the rules need first, so it runs in one transaction: the task is
locked, the rules of service/domain/tree.py are checked, and the task with its sub-tree is
written.

Completion: `toggle` and `update` with `completed` are the completion paths of a single
task (the bulk one is ListingStore.set_completed_matching); their statements cascade the
change to the sub-tree and the ancestors in the same statement (task_toggle_flat first, for
a task with no parent and no sub-tasks). Recurrence plugs in here: a recurring task's
completion is to be decided in `toggle` and `_write` (when `completed` is among the
changes), and in the bulk path, before those statements run.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.account import AccountStore
from service.data.changes import ChangeStore
from service.data.listing import Filters, ListingStore
from service.data.lists import ListStore
from service.data.outbox import tasks_url
from service.data.preconditions import PreconditionFailed
from service.data.queries import Queries
from service.data.recurrence import RecurrenceStore, recurrence_params, translate_violations
from service.data.reminders import ReminderStore, translate_missing_due
from service.data.settings import SettingsStore
from service.data.trash import TrashStore
from service.domain import positions, zones
from service.domain.tree import RuleViolation, check_parent

Row = dict[str, Any]

NIL = UUID(int=0)

# The fields a client may write, in the order of the task_update parameters.
WRITABLE_FIELDS = (
    "title",
    "description",
    "completed",
    "priority",
    "due_at",
    "tags",
    "order",
    "list_id",
    "parent_id",
    "position",
    "time_zone",
    "due_date",
)
# Fields whose change needs reads first (rules, zones): such a write runs in a transaction.
PLACING_FIELDS = frozenset({"list_id", "parent_id"})
DATING_FIELDS = frozenset({"due_date", "time_zone"})
# Fields whose change moves the task's due: relative reminders are recomputed after it.
DUE_FIELDS = frozenset({"due_at", "due_date", "time_zone"})

TASK_DEFAULTS: Mapping[str, Any] = {
    "description": None,
    "completed": False,
    "priority": "normal",
    "due_at": None,
    "tags": [],
    "order": None,
    "list_id": None,
    "parent_id": None,
    "time_zone": None,
    "due_date": None,
}


@dataclass(frozen=True)
class Place:
    """Where a task goes: its list (None: inbox) and parent (None: top level)."""

    list_id: UUID | None
    parent_id: UUID | None
    parent_completed: bool = False


class TaskStore:
    """Read and write one user's tasks; a task of another user is indistinguishable from none."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        # Resolve every statement now, so a missing SQL file fails at start-up, not mid-request.
        self._get = queries["task_get"]
        # The outbox-free forms of the two hottest writes, tried first: they write only for
        # a user without webhooks (else no row, and the form with the outbox runs).
        self._insert_plain = queries["task_insert_plain"]
        self._insert = queries["task_insert"]
        self._toggle_plain = queries["task_toggle_plain"]
        self._update = queries["task_update"]
        self._toggle = queries["task_toggle"]
        self._toggle_flat = queries["task_toggle_flat"]
        self._place = queries["task_place"]
        self._ancestry = queries["task_ancestry"]
        self._sibling_after = queries["task_sibling_after"]
        self._first_sibling = queries["task_first_sibling"]
        self._move_subtree = queries["task_move_subtree"]
        self._reopen_ancestors = queries["task_reopen_ancestors"]
        self._list_exists = queries["list_exists"]
        self._settings = queries["user_settings_get"]
        # Pages, bulk changes and counts over the user's tasks (service/data/listing.py).
        self.listing = ListingStore(pool, queries)
        # The user's lists and settings, which the task rules read too.
        self.lists = ListStore(pool, queries)
        self.settings = SettingsStore(pool, queries)
        # Reminders: a task's set, their recompute when the due moves, snooze and ack.
        self.reminders = ReminderStore(pool, queries)
        # Completing, undoing and listing the occurrences of recurring tasks.
        self.recurrence = RecurrenceStore(pool, queries, self.reminders)
        # Deletes move tasks and lists to the trash; its pages, restore and purge.
        self.trash = TrashStore(pool, queries)
        # The whole account: export and erase.
        self.account = AccountStore(pool, queries)
        # The changes feed over the user's tasks and lists (service/data/changes.py).
        self.changes = ChangeStore(pool, queries)

    def _one(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        # The request's transaction when one is bound (Idempotency-Key), else autocommit.
        with unit_of_work.connection(self._pool) as conn:
            return conn.execute(sql, params).fetchone()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        # A savepoint inside the request's transaction when one is bound, else BEGIN/COMMIT.
        with unit_of_work.connection(self._pool) as conn, conn.transaction():
            yield conn

    def operation(self) -> AbstractContextManager[psycopg.Connection]:
        """Return a block whose DAO calls run as one transaction of its own.

        Inside a request's bound transaction (Idempotency-Key) the block is a savepoint, so a
        failing operation of a batch undoes its own writes only.
        """
        return unit_of_work.transaction(self._pool)

    def _absent_or_mismatch(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None
    ) -> None:
        """Explain a conditional write that touched no row: absent (None) or a mismatch."""
        if if_versions is not None and self.get(user_id, task_id) is not None:
            raise PreconditionFailed

    def get(self, user_id: str, task_id: UUID) -> Row | None:
        """Return the task, or None when this user has no task with this id."""
        return self._one(self._get, {"user_id": user_id, "task_id": task_id})

    # -- reads the rules need ---------------------------------------------------------------

    def _user_zone(self, conn: psycopg.Connection, user_id: str) -> str | None:
        row = conn.execute(self._settings, {"user_id": user_id}).fetchone()
        return None if row is None else row["time_zone"]

    def _due_date_start(
        self, conn: psycopg.Connection, user_id: str, due_date: date | None, time_zone: str | None
    ) -> Any:
        if due_date is None:
            return None
        zone = time_zone or self._user_zone(conn, user_id)
        return zones.day_start(due_date, zones.effective_zone(zone, None))

    def _require_list(self, conn: psycopg.Connection, user_id: str, list_id: UUID | None) -> None:
        if list_id is None:
            return
        found = conn.execute(self._list_exists, {"user_id": user_id, "list_id": list_id})
        if found.fetchone() is None:
            # Another user's list answers exactly like a missing one.
            raise RuleViolation("list_id", "No such list.")

    def _resolve_place(
        self,
        conn: psycopg.Connection,
        user_id: str,
        current: Place,
        changes: Mapping[str, Any],
        task_id: UUID | None = None,
        height: int = 0,
    ) -> Place:
        """Return where a task goes given the list_id / parent_id it was sent (if any)."""
        if changes.get("parent_id") is not None:
            parent_id = changes["parent_id"]
            row = conn.execute(
                self._ancestry, {"user_id": user_id, "parent_id": parent_id}
            ).fetchone()
            if row is None or row["level"] == 0:
                raise RuleViolation("parent_id", "No such task.")
            check_parent(task_id, row["level"], row["ids"], height)
            if "list_id" in changes and changes["list_id"] != row["list_id"]:
                raise RuleViolation("parent_id", "The parent task is in another list.")
            return Place(row["list_id"], parent_id, row["completed"])
        if "list_id" in changes:
            list_id = changes["list_id"]
            self._require_list(conn, user_id, list_id)
            if "parent_id" in changes or list_id != current.list_id:
                # A task moved to another list leaves its parent there: top level.
                return Place(list_id, None)
            return Place(list_id, current.parent_id)
        if "parent_id" in changes:  # null: to the top level of its own list
            return Place(current.list_id, None)
        return current

    # -- writes -----------------------------------------------------------------------------

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        """Insert a task from validated fields (defaults fill the rest) and return it.

        A parent puts the task in the parent's list; an open task under a completed parent
        reopens that parent and its completed ancestors.
        """
        params: dict[str, Any] = {**TASK_DEFAULTS, **fields, "user_id": user_id}
        recurrence = params.pop("recurrence", None)
        params["recurrence_rule"] = None if recurrence is None else recurrence["rule"]
        params["recurrence_basis"] = None if recurrence is None else recurrence["basis"]
        reminders = params.pop("reminders", None)
        if not reminders:
            with translate_violations(fields):
                row = self._create(user_id, fields, params)
            row["reminders"] = []
            return row
        # The task and its reminders commit together.
        with translate_violations(fields), unit_of_work.transaction(self._pool):
            row = self._create(user_id, fields, params)
            self.reminders.replace(user_id, row["id"], reminders, row)
            row["reminders"] = self.reminders.of_task(user_id, row["id"])
            return row

    def _create(self, user_id: str, fields: Mapping[str, Any], params: dict[str, Any]) -> Row:
        params["tasks_url"] = tasks_url(user_id)
        params["position"] = positions.creation_key()
        params["completion_id"] = uuid.uuid4() if params["completed"] else None
        params["due_date_start"] = None
        needs_reads = params["list_id"] is not None or params["parent_id"] is not None
        if params["due_date"] is not None and params["time_zone"] is None:
            needs_reads = True
        elif params["due_date"] is not None:
            params["due_date_start"] = zones.day_start(params["due_date"], params["time_zone"])
        if not needs_reads:
            with unit_of_work.connection(self._pool) as conn:
                return self._insert_row(conn, params)
        with self._transaction() as conn:
            place = self._resolve_place(conn, user_id, Place(None, None), fields)
            params["list_id"], params["parent_id"] = place.list_id, place.parent_id
            params["due_date_start"] = self._due_date_start(
                conn, user_id, params["due_date"], params["time_zone"]
            )
            row = self._insert_row(conn, params)
            if place.parent_completed and not params["completed"]:
                conn.execute(
                    self._reopen_ancestors,
                    {
                        "user_id": user_id,
                        "parent_id": place.parent_id,
                        "tasks_url": params["tasks_url"],
                    },
                )
            return row

    def _insert_row(self, conn: psycopg.Connection, params: Mapping[str, Any]) -> Row:
        # The outbox-free form first: it inserts only for a user without webhooks.
        row = conn.execute(self._insert_plain, params).fetchone()
        if row is None:
            row = conn.execute(self._insert, params).fetchone()
            assert row is not None  # task_insert's INSERT ... RETURNING always yields the row
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
        A change of `completed` cascades (see task_update.sql); a change of list or parent
        moves the sub-tree along. `completed: true` on an open recurring task completes its
        current occurrence instead (service/data/recurrence.py), after the other changes.
        """
        changes = dict(changes)
        reminders = changes.pop("reminders", None)
        if reminders is None and not DUE_FIELDS & changes.keys():
            with translate_violations(changes):
                return self._with_reminders(
                    user_id, self._update_fields(user_id, task_id, changes, if_versions)
                )
        # The due's move, the relative reminders' recompute and a new set commit together.
        field = "due_date" if "due_date" in changes and "due_at" not in changes else "due_at"
        with (
            translate_violations(changes),
            translate_missing_due(field),
            unit_of_work.transaction(self._pool),
        ):
            row = self._update_fields(user_id, task_id, changes, if_versions)
            if row is None:
                return None
            if DUE_FIELDS & changes.keys():
                self.reminders.refresh(user_id, task_id, field)
            if reminders is not None:
                self.reminders.replace(user_id, task_id, reminders, row)
            row.pop("reminder_count", None)
            row["reminders"] = self.reminders.of_task(user_id, task_id)
            return row

    def _update_fields(
        self,
        user_id: str,
        task_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None,
    ) -> Row | None:
        row = self._update_task(user_id, task_id, changes, if_versions)
        if (
            changes.get("completed") is True
            and row is not None
            and row["recurrence_rule"] is not None
            and not row["completed"]
        ):
            # task_update.sql left it alone (an open recurring task): complete an
            # occurrence, under the row lock, with the other changes applied first.
            return self._complete_occurrence(user_id, task_id, changes, if_versions)
        return row

    def _with_reminders(self, user_id: str, row: Row | None) -> Row | None:
        # A write's RETURNING does not carry the reminders (task_get's read does). Where it
        # carries their count, a task without any (most) needs no second statement.
        if row is not None and "reminders" not in row:
            if row.pop("reminder_count", None) == 0:
                row["reminders"] = []
            else:
                row["reminders"] = self.reminders.of_task(user_id, row["id"])
        return row

    def _update_task(
        self,
        user_id: str,
        task_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None,
    ) -> Row | None:
        changes = dict(changes)
        # The two forms of a due are exclusive: setting one clears the other.
        if changes.get("due_at") is not None:
            changes["due_date"] = None
        if changes.get("due_date") is not None:
            changes["due_at"] = None
        if "due_date" in changes and (
            changes["due_date"] is None or changes.get("time_zone") is not None
        ):
            # Known without reading anything: no date, or a date in a zone given with it.
            due_date, zone = changes["due_date"], changes.get("time_zone")
            changes["due_date_start"] = (
                None if due_date is None else zones.day_start(due_date, zone)
            )
        needs_reads = PLACING_FIELDS & changes.keys() or (
            DATING_FIELDS & changes.keys() and "due_date_start" not in changes
        )
        if not needs_reads:
            return self._write(None, user_id, task_id, changes, if_versions)
        with self._transaction() as conn:
            return self._relocate(conn, user_id, task_id, changes, if_versions)

    def _complete_occurrence(
        self,
        user_id: str,
        task_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None,
    ) -> Row | None:
        others = {name: value for name, value in changes.items() if name != "completed"}
        return self.recurrence.complete(
            user_id,
            task_id,
            if_versions,
            ordinary=lambda: self._update_task(user_id, task_id, changes, None),
            finish=lambda: self._write(
                None, user_id, task_id, {"completed": True}, None, finish_series=True
            ),
            before=(lambda: self._update_task(user_id, task_id, others, None)) if others else None,
        ).row

    def set_completed_matching(self, user_id: str, filters: Filters, completed: bool) -> int:
        """Set the completed flag of the matching tasks; return how many changed.

        Completing also completes the current occurrence of each matching open recurring task
        (the bulk statement leaves those alone), in the same transaction.
        """
        if not completed or filters.completed is True:
            return self.listing.set_completed_matching(user_id, filters, completed)
        with unit_of_work.transaction(self._pool):
            changed = self.listing.set_completed_matching(user_id, filters, completed)
            return changed + self.recurrence.complete_open_recurring(
                user_id,
                lambda task_id: self._write(
                    None, user_id, task_id, {"completed": True}, None, finish_series=True
                ),
            )

    def undo_latest_completion(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None = None
    ) -> Row | None:
        """Undo the task's latest completion (the due moves back); return the task.

        None when there is no such task; `NothingToUndo` when it has no completion record;
        `PreconditionFailed` when `if_versions` does not hold its version.
        """
        return self._with_reminders(
            user_id,
            self.recurrence.undo_latest(
                user_id,
                task_id,
                if_versions,
                reopen=lambda: self._write(None, user_id, task_id, {"completed": False}, None),
            ),
        )

    def move(
        self,
        user_id: str,
        task_id: UUID,
        body: Mapping[str, Any],
        if_versions: Collection[int] | None = None,
    ) -> Row | None:
        """Place the task (with its sub-tree) right after sibling `after` (None: first).

        `parent_id` / `list_id` in `body` pick the new parent and list; omitted ones keep the
        task's own. Only the task's row gets a new position: siblings are never renumbered.
        """
        changes = {k: body[k] for k in ("list_id", "parent_id") if k in body}
        with self._transaction() as conn:
            row = self._relocate(conn, user_id, task_id, changes, if_versions, body["after"])
        return self._with_reminders(user_id, row)

    _NO_MOVE = object()

    def _relocate(
        self,
        conn: psycopg.Connection,
        user_id: str,
        task_id: UUID,
        changes: dict[str, Any],
        if_versions: Collection[int] | None,
        after: Any = _NO_MOVE,
    ) -> Row | None:
        state = conn.execute(self._place, {"user_id": user_id, "task_id": task_id}).fetchone()
        if state is None:
            return None
        if if_versions is not None and state["version"] not in if_versions:
            raise PreconditionFailed
        current = Place(state["list_id"], state["parent_id"])
        place = self._resolve_place(conn, user_id, current, changes, task_id, state["height"])
        if place.list_id != current.list_id and state["descendants"]:
            conn.execute(
                self._move_subtree,
                {
                    "user_id": user_id,
                    "list_id": place.list_id,
                    "ids": state["descendants"],
                    "tasks_url": tasks_url(user_id),
                },
            )
        if (place.list_id, place.parent_id) != (current.list_id, current.parent_id):
            changes["list_id"], changes["parent_id"] = place.list_id, place.parent_id
        else:
            changes.pop("list_id", None)
            changes.pop("parent_id", None)
        if after is not self._NO_MOVE:
            changes["position"] = self._position_after(conn, user_id, task_id, place, after)
        if DATING_FIELDS & changes.keys() and "due_date_start" not in changes:
            task = conn.execute(self._get, {"user_id": user_id, "task_id": task_id}).fetchone()
            assert task is not None  # locked above
            due_date = changes.get("due_date", task["due_date"])
            time_zone = changes.get("time_zone", task["time_zone"])
            changes["due_date_start"] = self._due_date_start(conn, user_id, due_date, time_zone)
        # An open task placed under a completed parent reopens it: cascade as for a reopening.
        cascade = "parent_id" in changes and not state["completed"]
        return self._write(conn, user_id, task_id, changes, if_versions, cascade=cascade)

    def _position_after(
        self, conn: psycopg.Connection, user_id: str, task_id: UUID, place: Place, after: Any
    ) -> str:
        if after is None:
            row = conn.execute(
                self._first_sibling,
                {
                    "user_id": user_id,
                    "task_id": task_id,
                    "list_key": place.list_id or NIL,
                    "parent_key": place.parent_id or NIL,
                },
            ).fetchone()
            return positions.key_between(None, None if row is None else row["position"])
        if after == task_id:
            raise RuleViolation("after", "A task cannot be placed after itself.")
        row = conn.execute(
            self._sibling_after, {"user_id": user_id, "task_id": task_id, "after_id": after}
        ).fetchone()
        if row is None:
            raise RuleViolation("after", "No such task.")
        if (row["list_id"], row["parent_id"]) != (place.list_id, place.parent_id):
            raise RuleViolation("after", "Not a sibling at the place the task moves to.")
        # Strictly after the sibling's key: a tie (two writers at one microsecond) places the
        # task after every sibling sharing that key.
        return positions.key_between(row["position"], row["next_position"])

    def _write(
        self,
        conn: psycopg.Connection | None,
        user_id: str,
        task_id: UUID,
        changes: Mapping[str, Any],
        if_versions: Collection[int] | None,
        cascade: bool = False,
        finish_series: bool = False,
    ) -> Row | None:
        params: dict[str, Any] = {
            "user_id": user_id,
            "task_id": task_id,
            "if_versions": _versions(if_versions),
            "cascade": cascade or "completed" in changes,
            "completion_id": uuid.uuid4(),
            "set_due_date_start": "due_date_start" in changes,
            "due_date_start": changes.get("due_date_start"),
            # finish_series: complete a recurring task for good (its series ended).
            "finish_series": finish_series,
            **recurrence_params(changes),
            "tasks_url": tasks_url(user_id),
        }
        for name in WRITABLE_FIELDS:
            params[f"set_{name}"] = name in changes
            params[name] = changes.get(name)
        if conn is None:
            row = self._one(self._update, params)
        else:
            row = conn.execute(self._update, params).fetchone()
        if row is None:
            # No such task, a version mismatch, or nothing to change: the stored row tells which.
            current = (
                self.get(user_id, task_id)
                if conn is None
                else conn.execute(self._get, {"user_id": user_id, "task_id": task_id}).fetchone()
            )
            if current is not None and if_versions is not None:
                if current["version"] not in if_versions:
                    raise PreconditionFailed
            return current
        return row

    def toggle(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None = None
    ) -> Row | None:
        """Flip the task's completed flag (cascading) and return it, or None if absent.

        On an open recurring task, completes its current occurrence instead
        (service/data/recurrence.py). With `if_versions`, only while the task's version is
        one of them, else `PreconditionFailed`.
        """
        params = {
            "user_id": user_id,
            "task_id": task_id,
            "if_versions": _versions(if_versions),
            "cascade": True,
            "completion_id": uuid.uuid4(),
            "finish_series": False,
            "tasks_url": tasks_url(user_id),
        }
        # Most tasks have no parent and no sub-tasks: their toggle is one short statement,
        # without the outbox while the user has no webhook. A task in a tree takes the
        # statement with the cascade.
        row = self._one(self._toggle_plain, params) or self._one(self._toggle_flat, params)
        if row is None:
            row = self._one(self._toggle, params)
        if row is not None:
            return self._with_reminders(user_id, row)
        # Nothing toggled: absent, a version mismatch, or an open recurring task; the
        # recurrence path tells which under the row lock.
        return self._with_reminders(
            user_id,
            self.recurrence.complete(
                user_id,
                task_id,
                if_versions,
                ordinary=lambda: self._one(self._toggle, params),
                finish=lambda: self._one(self._toggle, {**params, "finish_series": True}),
            ).row,
        )

    def delete(
        self, user_id: str, task_id: UUID, if_versions: Collection[int] | None = None
    ) -> Row | None:
        """Move the task with its sub-tree to the trash and return it, or None if absent.

        The row carries `deleted_at` and `batch_id`. With `if_versions`, only while the
        task's version is one of them, else `PreconditionFailed`.
        """
        row = self.trash.delete_task(user_id, task_id, if_versions)
        if row is None:
            self._absent_or_mismatch(user_id, task_id, if_versions)
            return None
        # In the trash a task keeps its reminders (they do not fire there).
        return self._with_reminders(user_id, row)


def _versions(if_versions: Collection[int] | None) -> list[int] | None:
    # NULL means unconditional; an empty array matches no version at all.
    return None if if_versions is None else list(if_versions)
