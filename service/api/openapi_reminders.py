"""Reminders in /openapi.json: the reminder as returned, the list, snooze and ack paths.

Kept beside service/api/openapi.py (which merges these in `build_spec`), as the webhook and
recurrence parts are; the `reminders` field of a task is in the task schemas
(service/api/schemas.py for input, service/api/openapi_schemas.py for output).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from service.api.openapi import BODY_ERRORS, _api_operation, _body, _ok
from service.api.schemas import ReminderQuery, ReminderSnooze
from service.domain.reminders import MAX_BEFORE_DUE, STATES

REMINDERS = "/api/{user_id}/reminders"
SNOOZE = "/api/{user_id}/reminders/{reminder_id}/snooze"
ACK = "/api/{user_id}/reminders/{reminder_id}/ack"

TIMESTAMP_EXAMPLE = "2027-01-24T08:30:00.000000Z"
STATE_DESCRIPTION = (
    "`scheduled`: waits for `fire_at`; `fired`: fired at `fired_at`; `snoozed`: fires again "
    "at `fire_at`; `acknowledged`: will not fire; `missed`: its time passed more than 24 h "
    "before a worker could fire it."
)


class ReminderOut(Schema):
    """A reminder as returned on its task: one form, plus what the service computed."""

    id = fields.UUID(required=True)
    at = fields.AwareDateTime(
        metadata={"description": "Absolute form: when to fire.", "example": TIMESTAMP_EXAMPLE}
    )
    before_due = fields.Integer(
        validate=validate.Range(min=0, max=MAX_BEFORE_DUE),
        metadata={"description": "Relative form: minutes before the task's due."},
    )
    fire_at = fields.AwareDateTime(
        required=True,
        metadata={"description": "When it fires (UTC), computed.", "example": TIMESTAMP_EXAMPLE},
    )
    state = fields.String(
        required=True, validate=validate.OneOf(STATES), metadata={"description": STATE_DESCRIPTION}
    )
    fired_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When it last fired; null before."},
    )


class ReminderListed(ReminderOut):
    """A reminder in the user's list: with its task's id."""

    task_id = fields.UUID(required=True)


SCHEMAS: dict[str, Any] = {
    "Reminder": ReminderListed,
    "ReminderSnooze": ReminderSnooze,
}

PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "reminder_id": (
        "path",
        {"name": "reminder_id", "schema": {"type": "string", "format": "uuid"}},
    ),
}

TAG = {
    "name": "reminders",
    "description": "Reminders on tasks: fired by the worker exactly once per scheduled time.",
}

SNOOZE_EXAMPLE = {"until": "2027-01-24T09:15:00Z"}


def reminder_paths() -> dict[str, dict[str, Any]]:
    """Return the reminder paths and their operations."""
    one = "Reminder"
    return {
        REMINDERS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listReminders",
                "List the user's reminders",
                tag="reminders",
                description="Newest first (by `fired_at`, else `fire_at`), at most 1,000; "
                "`?state=fired` is the poll for fired reminders. Reminders of trashed tasks "
                "are left out.",
                parameters=({"in": "query", "schema": ReminderQuery},),
                responses={"200": _ok("The reminders.", {"type": "array", "items": one})},
            ),
        },
        SNOOZE: {
            "parameters": ["user_id", "reminder_id"],
            "post": _api_operation(
                "snoozeReminder",
                "Snooze a reminder",
                tag="reminders",
                description="Its state becomes `snoozed` and `fire_at` the given time: it "
                "fires once more then (at once when that time has passed, if less than 24 h "
                "ago).",
                parameters=("Idempotency-Key",),
                requestBody=_body("ReminderSnooze", SNOOZE_EXAMPLE),
                responses={"200": _ok("The reminder.", one)},
                errors=(*BODY_ERRORS, 404, 409),
            ),
        },
        ACK: {
            "parameters": ["user_id", "reminder_id"],
            "post": _api_operation(
                "acknowledgeReminder",
                "Acknowledge a reminder",
                tag="reminders",
                description="Its state becomes `acknowledged`: it does not fire (again) "
                "unless its due moves (relative) or it is snoozed. No body.",
                parameters=("Idempotency-Key",),
                responses={"200": _ok("The reminder.", one)},
                errors=(404, 409),
            ),
        },
    }
