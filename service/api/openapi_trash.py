"""The trash endpoints in /openapi.json: paths and response schemas.

Kept beside service/api/openapi.py (which merges these in `build_spec`), like the webhook
part.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from service.api import openapi_schemas as out
from service.api.openapi import _api_operation, _ok

TRASH = "/api/{user_id}/trash"
BATCH = "/api/{user_id}/trash/{batch_id}"
RESTORE = "/api/{user_id}/trash/{batch_id}/restore"

BATCH_ID = fields.UUID(
    required=True,
    metadata={"description": "The trash batch the delete made (also in `X-Batch-ID`)."},
)
DELETED_AT = fields.AwareDateTime(
    required=True,
    metadata={"description": "When it went to the trash.", "example": "2026-01-24T10:00:00Z"},
)

TrashedTask = out.TaskOut.from_dict({"batch_id": BATCH_ID}, name="TrashedTask")
TrashedList = out.ListFields.from_dict(
    {"batch_id": BATCH_ID, "deleted_at": DELETED_AT}, name="TrashedList"
)


class TrashedTasks(Schema):
    """The answer to a bulk delete: how many tasks went to the trash, in which batch."""

    deleted = fields.Integer(required=True, validate=validate.Range(min=0))
    batch_id = BATCH_ID


class TrashEntry(Schema):
    """One trashed task or list, as GET returned it before."""

    kind = fields.String(required=True, validate=validate.OneOf(("task", "list")))
    batch_id = BATCH_ID
    deleted_at = DELETED_AT
    data = fields.Dict(
        required=True,
        metadata={"description": "The task (as `getTask`) or list (as `getList`)."},
    )


class Restored(Schema):
    """How many tasks and lists a restore brought back."""

    restored = fields.Integer(required=True, validate=validate.Range(min=1))


class Purged(Schema):
    """How many tasks and lists a purge deleted for good."""

    purged = fields.Integer(required=True, validate=validate.Range(min=0))


class TrashQueryDoc(Schema):
    """Query parameters of GET /trash."""

    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Entries per page."},
    )
    cursor = fields.String(
        metadata={"description": "Opaque; taken from the `Link` header of the previous page."}
    )


SCHEMAS: dict[str, Any] = {
    "TrashedTask": TrashedTask,
    "TrashedList": TrashedList,
    "TrashedTasks": TrashedTasks,
    "TrashEntry": TrashEntry,
    "Restored": Restored,
    "Purged": Purged,
}

PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "batch_id": ("path", {"name": "batch_id", "schema": {"type": "string", "format": "uuid"}}),
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Batch-ID": {
        "description": "The trash batch the delete made: restore it with "
        "`POST /api/{user_id}/trash/{batch_id}/restore`.",
        "schema": {"type": "string", "format": "uuid"},
    },
}


def trash_paths() -> dict[str, dict[str, Any]]:
    """Return the path items of the trash."""
    return {
        TRASH: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listTrash",
                "List the user's trash, newest deletion first",
                tag="trash",
                description="Trashed tasks and lists, each with its batch; keyset pages "
                "(`Link` rel=next) as in listTasks. Batches older than TRASH_RETENTION_DAYS "
                "(30) are purged by the worker.",
                parameters=({"in": "query", "schema": TrashQueryDoc},),
                responses={
                    "200": _ok(
                        "A page of the trash.",
                        {"type": "array", "items": "TrashEntry"},
                        Link="Link",
                    )
                },
            ),
            "delete": _api_operation(
                "emptyTrash",
                "Empty the user's trash for good",
                tag="trash",
                parameters=("Idempotency-Key",),
                responses={"200": _ok("How many went.", "Purged")},
                errors=(409,),
            ),
        },
        BATCH: {
            "parameters": ["user_id", "batch_id"],
            "delete": _api_operation(
                "purgeTrashBatch",
                "Delete one batch of the trash for good",
                tag="trash",
                parameters=("Idempotency-Key",),
                responses={"200": _ok("How many went.", "Purged")},
                errors=(404, 409),
            ),
        },
        RESTORE: {
            "parameters": ["user_id", "batch_id"],
            "post": _api_operation(
                "restoreTrashBatch",
                "Restore one batch of the trash",
                tag="trash",
                description="Every task and list of the batch comes back; so does each "
                "trashed parent or list that one of its tasks is in. A batch already "
                "restored or purged is a 404.",
                parameters=("Idempotency-Key",),
                responses={"200": _ok("How many came back.", "Restored")},
                errors=(404, 409),
            ),
        },
    }


TAG = {"name": "trash", "description": "Deleted tasks and lists, restorable in batches."}
