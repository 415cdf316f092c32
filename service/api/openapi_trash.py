"""The trash and changes-feed endpoints in /openapi.json: paths and response schemas.

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
CHANGES = "/api/{user_id}/changes"

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


class Change(Schema):
    """One object of the feed in its latest state, or its deletion."""

    kind = fields.String(required=True, validate=validate.OneOf(("task", "list")))
    id = fields.UUID(required=True)
    op = fields.String(required=True, validate=validate.OneOf(("upsert", "delete")))
    data = fields.Dict(
        required=True,
        allow_none=True,
        metadata={
            "description": "`upsert`: the task (as `getTask`) or the list (as `getList`, "
            "without `open_count`); `delete`: null."
        },
    )


class ChangesPage(Schema):
    """A page of the changes feed."""

    changes = fields.List(fields.Nested(Change), required=True)
    cursor = fields.String(
        required=True,
        metadata={"description": "Opaque and signed: ask again with it for what changed since."},
    )
    has_more = fields.Boolean(
        required=True, metadata={"description": "True: ask again at once with `cursor`."}
    )


class ChangesQueryDoc(Schema):
    """Query parameters of GET /changes."""

    limit = fields.Integer(
        load_default=500,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Changes per page."},
    )
    cursor = fields.String(
        metadata={"description": "From the previous answer; none: from the beginning."}
    )


SCHEMAS: dict[str, Any] = {
    "Change": Change,
    "ChangesPage": ChangesPage,
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
        CHANGES: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listChanges",
                "What changed in the user's tasks and lists since a cursor",
                tag="sync",
                description="In commit order, one entry per object (its latest state); "
                "deletions (trash and purge) as `op: delete`. No cursor: a full sync. A client "
                "that keeps `cursor` and asks again gets exactly what changed since, never "
                "missing a commit. A cursor older than the deletions kept (90 days) is a 410 "
                "problem whose `type` ends in `cursor-expired`: sync from the beginning. An "
                "altered cursor, or another user's, is a 422 naming `cursor`.",
                parameters=({"in": "query", "schema": ChangesQueryDoc},),
                responses={"200": _ok("A page of changes.", "ChangesPage")},
                errors=(410,),
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
SYNC_TAG = {"name": "sync", "description": "The changes feed: what changed since a cursor."}
