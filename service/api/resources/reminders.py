"""Reminder resources: /api/{user_id}/reminders, .../reminders/{reminder_id}/snooze and /ack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from uuid import UUID

import falcon
from marshmallow import Schema

from service.api.representation import load_query
from service.api.schemas import reminder_query_schema, reminder_snooze_schema
from service.data.reminders import ReminderStore, Row

NOT_FOUND = "No such reminder."
# The list is one JSON array (the contract's poll); this bounds its size.
LIST_LIMIT = 1000


def present_reminder(row: Row) -> dict[str, Any]:
    """Return a reminder's JSON body: its form (`at` or `before_due`), state and task."""
    body: dict[str, Any] = {"id": row["id"], "task_id": row["task_id"]}
    if row["at"] is not None:
        body["at"] = row["at"]
    else:
        body["before_due"] = row["before_due"]
    body["fire_at"] = row["fire_at"]
    body["state"] = row["state"]
    body["fired_at"] = row["fired_at"]
    return body


def _found(row: Row | None) -> Row:
    if row is None:
        # The same answer whether the reminder never existed or belongs to someone else.
        raise falcon.HTTPNotFound(description=NOT_FOUND)
    return row


class ReminderCollection:
    """A user's reminders, newest first, optionally of one state (`?state=fired`: the poll)."""

    def __init__(self, store: ReminderStore) -> None:
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        query = load_query(req, reminder_query_schema)
        rows = self._store.list(user_id, query["state"], LIST_LIMIT)
        resp.media = [present_reminder(row) for row in rows]


class ReminderSnooze:
    """Snooze a reminder until an instant: it fires once more then."""

    schemas: ClassVar[Mapping[str, Schema]] = {"POST": reminder_snooze_schema}

    def __init__(self, store: ReminderStore) -> None:
        self._store = store

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, reminder_id: UUID
    ) -> None:
        until = req.context.body["until"]
        row = self._store.set_state(user_id, reminder_id, "snoozed", until)
        resp.media = present_reminder(_found(row))


class ReminderAck:
    """Acknowledge a reminder: it will not fire (again)."""

    def __init__(self, store: ReminderStore) -> None:
        self._store = store

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, reminder_id: UUID
    ) -> None:
        row = self._store.set_state(user_id, reminder_id, "acknowledged")
        resp.media = present_reminder(_found(row))
