"""Recurring tasks in /openapi.json: the completions paths and the completion record.

Kept beside service/api/openapi.py (which merges these in `build_spec`), as the webhook part
is; the `recurrence` field itself is part of the task schemas (service/api/schemas.py).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from service.api.openapi import _api_operation, _ok, _task

COMPLETIONS = "/api/{user_id}/tasks/{task_id}/completions"
LATEST_COMPLETION = "/api/{user_id}/tasks/{task_id}/completions/latest"


class CompletionRecord(Schema):
    """One completed occurrence of a recurring task."""

    occurrence_due = fields.String(
        required=True,
        metadata={
            "description": "The completed occurrence's due: an RFC 3339 timestamp (UTC), or "
            "`YYYY-MM-DD` for an all-day task.",
            "example": "2026-01-24T09:00:00.000000Z",
        },
    )
    completed_at = fields.AwareDateTime(
        required=True,
        metadata={"description": "When it was completed.", "example": "2026-01-24T10:00:00Z"},
    )


SCHEMAS: dict[str, type[Schema]] = {"CompletionRecord": CompletionRecord}


def completion_paths() -> dict[str, dict[str, Any]]:
    """Return the paths of a task's completion record and its undo."""
    return {
        COMPLETIONS: {
            "parameters": ["user_id", "task_id"],
            "get": _api_operation(
                "listTaskCompletions",
                "List a task's completed occurrences",
                description="Newest first; empty for a task that never recurred.",
                responses={
                    "200": _ok(
                        "The completion records.",
                        {"type": "array", "items": "CompletionRecord"},
                    )
                },
                errors=(404,),
            ),
        },
        LATEST_COMPLETION: {
            "parameters": ["user_id", "task_id"],
            "delete": _api_operation(
                "undoLatestCompletion",
                "Undo a task's latest completion",
                description="The record goes and the due moves back to the completed "
                "occurrence; a task the completion had completed for good is reopened. "
                "404 when the task has no completion record.",
                parameters=("Idempotency-Key", "If-Match"),
                responses={"200": _task("The task.")},
                errors=(404, 409, 412),
            ),
        },
    }
