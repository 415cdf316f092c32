"""POST /batch in /openapi.json: the envelope, its operations and the answer.

Kept beside service/api/openapi.py (which merges these in `build_spec`), as the recurrence
and webhook parts are.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from service.api.openapi import BODY_ERRORS, _api_operation, _body, _ok
from service.api.schemas import MAX_BATCH_OPERATIONS, BatchOperation, BatchWrite

BATCH = "/api/{user_id}/batch"


class BatchResult(Schema):
    """What one operation's single route would have answered."""

    status = fields.Integer(
        required=True, metadata={"description": "Its HTTP status.", "example": 201}
    )
    body = fields.Dict(
        required=True,
        metadata={
            "description": "The task (as the single route answers it), or the problem "
            "details (`Problem` / `ValidationProblem`) of its error."
        },
    )


class BatchAnswer(Schema):
    """The answer to a batch: one result per operation, in order, and the temp_id mapping."""

    results = fields.List(fields.Nested(BatchResult), required=True)
    temp_ids = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={
            "description": "Each temp_id of a create that succeeded, and the id it got.",
            "example": {"milk": "1f0c6a52-9d6b-4f65-8a3c-2f4f4b8f7a10"},
        },
    )


SCHEMAS: dict[str, type[Schema]] = {
    "BatchOperation": BatchOperation,
    "Batch": BatchWrite,
    "BatchResult": BatchResult,
    "BatchAnswer": BatchAnswer,
}

BATCH_EXAMPLE = {
    "operations": [
        {"op": "create", "temp_id": "trip", "body": {"title": "Plan the trip"}},
        {"op": "create", "temp_id": "tickets", "body": {"title": "Book", "parent_id": "trip"}},
        {"op": "create", "temp_id": "hotel", "body": {"title": "Hotel", "parent_id": "trip"}},
        {"op": "move", "id": "tickets", "body": {"after": "hotel"}},
        {"op": "complete", "id": "hotel", "body": {"completed": True}},
    ]
}


def batch_paths() -> dict[str, dict[str, Any]]:
    """Return the path of the batch endpoint."""
    return {
        BATCH: {
            "parameters": ["user_id"],
            "post": _api_operation(
                "batchTasks",
                f"Apply up to {MAX_BATCH_OPERATIONS} task operations in order",
                description="Each operation `create` | `update` | `complete` | `delete` | "
                "`move` is validated and applied as its single route (POST /tasks, PATCH "
                "/tasks/{id}, PATCH .../complete, DELETE /tasks/{id}, POST .../move) would, in "
                "a transaction of its own: one failing leaves the others done. Its result is "
                "the status and body that route would answer (a problem body for an error, "
                "e.g. 404, 412, 422). A create's `temp_id` may stand for its task in a later "
                "operation's `id`, or in `parent_id` / `after` of its body. `if_match` is the "
                "operation's If-Match. The answer is 200 whatever the operations' outcomes; "
                "a malformed envelope is a 422 naming e.g. `operations.3.op`. Counts one "
                "request per operation against the rate limit; an Idempotency-Key replays "
                "the whole answer.",
                parameters=("Idempotency-Key",),
                requestBody=_body("Batch", BATCH_EXAMPLE),
                responses={
                    "200": _ok(
                        "One result per operation, in order.",
                        "BatchAnswer",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(*BODY_ERRORS, 409),
            ),
        },
    }
