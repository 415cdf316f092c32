"""The whole account in /openapi.json: GET /export and DELETE /api/{user_id}.

Kept beside service/api/openapi.py (which merges these in `build_spec`), as the batch,
recurrence and webhook parts are.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from service.api.openapi import _api_operation, _ok
from service.data.account import ERASE_STATEMENTS

EXPORT = "/api/{user_id}/export"
ACCOUNT = "/api/{user_id}"


class Export(Schema):
    """Everything of one user, read from one snapshot."""

    user_id = fields.String(required=True)
    settings = fields.Dict(required=True, metadata={"description": "As GET /settings."})
    lists = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Every list, trashed ones too (`deleted_at`, `batch_id`)."},
    )
    tasks = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Every task as GET returns it, trashed ones too (`deleted_at`, "
        "`batch_id`), oldest first."},
    )  # fmt: skip
    completions = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Completion records of recurring tasks: `task_id`, `seq`, "
        "`occurrence_due`, `completed_at`."},
    )  # fmt: skip
    reminders = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Every reminder, as GET /reminders returns it (with `task_id`), "
        "trashed tasks' too."},
    )  # fmt: skip
    webhooks = fields.List(
        fields.Dict(), required=True, metadata={"description": "Webhooks, without secrets."}
    )


Erased = Schema.from_dict(
    {
        "erased": fields.Dict(
            keys=fields.String(),
            values=fields.Integer(),
            required=True,
            metadata={
                "description": "Rows erased, by kind: "
                + ", ".join(f"`{name}`" for _, name in ERASE_STATEMENTS)
                + " (`tasks` includes the trash).",
                "example": {"tasks": 42, "lists": 3, "reminders": 5, "webhooks": 1},
            },
        )
    },
    name="Erased",
)

SCHEMAS: dict[str, Any] = {"Export": Export, "Erased": Erased}


def account_paths() -> dict[str, dict[str, Any]]:
    """Return the paths of the export and of the erase."""
    return {
        EXPORT: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "exportAccount",
                "Export everything of the user as one JSON document",
                tag="account",
                description="Read in one REPEATABLE READ transaction (a consistent snapshot) "
                "and streamed as it is read; secrets are left out.",
                responses={"200": _ok("The document.", "Export")},
            ),
        },
        ACCOUNT: {
            "parameters": ["user_id"],
            "delete": _api_operation(
                "eraseAccount",
                "Erase everything of the user, at once and for good",
                tag="account",
                description="Tasks (the trash too), lists, completion records, settings, "
                "webhooks with their events and deliveries, and idempotency keys, in one "
                "transaction. Later requests see an empty account.",
                parameters=("Idempotency-Key",),
                responses={
                    "200": _ok(
                        "What was erased.",
                        "Erased",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(409,),
            ),
        },
    }
