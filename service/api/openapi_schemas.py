"""Marshmallow schemas that only describe responses and not-yet-validated inputs for OpenAPI.

Nothing here runs per request: service/api/openapi.py feeds these to apispec once, at start-up.
Request bodies are documented from the real input schemas of service/api/schemas.py; these add
what they do not declare: the read-only task fields, the response bodies, and the listing
parameters as the contract words them.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import (
    INT32_MAX,
    INT32_MIN,
    MAX_SEARCH_TERMS,
    PRIORITIES,
    Tag,
    TaskWrite,
    UtcDateTime,
)

TIMESTAMP_EXAMPLE = "2026-01-24T10:00:00.123456Z"
STATUS_FILTERS = ("all", "pending", "completed")
SORT_KEYS = ("created_at", "updated_at", "due_at", "priority", "title", "order")
SORTS = SORT_KEYS + tuple(f"-{key}" for key in SORT_KEYS)


def _timestamp(description: str, *, allow_none: bool = False, **kwargs: object) -> fields.Field:
    return fields.AwareDateTime(
        allow_none=allow_none,
        metadata={"description": description, "example": TIMESTAMP_EXAMPLE},
        **kwargs,
    )


def _read_only_fields(*, required: bool) -> dict[str, fields.Field]:
    """Return the server-set task fields: in every response, ignored when a client sends them."""
    return {
        "id": fields.UUID(
            dump_only=True, required=required, metadata={"description": "UUID v4, lowercase."}
        ),
        "user_id": fields.String(
            dump_only=True, required=required, metadata={"description": "The owner, from the path."}
        ),
        "completed_at": _timestamp(
            "Set whenever `completed` is true, null whenever it is false.",
            allow_none=True,
            dump_only=True,
            required=required,
        ),
        "url": fields.String(
            dump_only=True,
            required=required,
            metadata={
                "format": "uri",
                "description": "Absolute URL of this task, as the client reached the service.",
            },
        ),
        "version": fields.Integer(
            dump_only=True,
            required=required,
            validate=validate.Range(min=1),
            metadata={"description": "1 on create, +1 on every change; the ETag carries it."},
        ),
        "created_at": _timestamp("Set by the server.", dump_only=True, required=required),
        "updated_at": _timestamp("Moves on every change.", dump_only=True, required=required),
    }


class TaskFields(Schema):
    """The client-settable fields of a task as the service returns them."""

    title = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Buy milk"}
    )
    description = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"example": "2 litres, semi-skimmed"},
    )
    completed = fields.Boolean(required=True, metadata={"example": False})
    priority = fields.String(
        required=True,
        validate=validate.OneOf(PRIORITIES),
        metadata={"description": "Ranks low < normal < high.", "example": "high"},
    )
    due_at = _timestamp("When the task is due.", allow_none=True, required=True)
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(max=20),
        metadata={"description": "Lower-cased, de-duplicated and sorted.", "example": ["home"]},
    )
    order = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=INT32_MIN, max=INT32_MAX),
        metadata={"description": "For manual ordering by clients."},
    )


# A task as the service returns it: every field always present.
TaskOut = TaskFields.from_dict(_read_only_fields(required=True), name="TaskOut")
# The real input schema plus the read-only fields it accepts and ignores.
TaskInput = TaskWrite.from_dict(_read_only_fields(required=False), name="TaskInput")


class FieldError(Schema):
    """One offending input of a 422."""

    location = fields.String(
        required=True, validate=validate.OneOf(("body", "query", "path", "header"))
    )
    field = fields.String(
        required=True,
        metadata={
            "description": 'The field\'s name, e.g. `tags[3]`; `""` when the whole body or '
            "query is at fault."
        },
    )
    message = fields.String(required=True)


class Problem(Schema):
    """An RFC 9457 problem: the body of every error response."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Not Found"})
    status = fields.Integer(required=True, metadata={"example": 404})
    detail = fields.String(required=True, metadata={"example": "No such task."})
    request_id = fields.String(
        required=True, metadata={"description": "The request's X-Request-ID."}
    )


class ValidationProblem(Problem):
    """A 422 problem that lists each offending field."""

    errors = fields.List(fields.Nested(FieldError), required=True)


class Deleted(Schema):
    """The answer to a bulk delete."""

    deleted = fields.Integer(required=True, validate=validate.Range(min=0))


class Updated(Schema):
    """The answer to a bulk update."""

    updated = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "The number of tasks that changed."},
    )


class Stats(Schema):
    """Counts over one user's tasks."""

    total = fields.Integer(required=True, validate=validate.Range(min=0))
    completed = fields.Integer(required=True, validate=validate.Range(min=0))
    pending = fields.Integer(required=True, validate=validate.Range(min=0))
    overdue = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "Not completed and `due_at` in the past."},
    )


class Health(Schema):
    """The body of /health and /readyz, healthy or not."""

    status = fields.String(required=True, validate=validate.OneOf(("ok", "unavailable")))
    database = fields.String(required=True, validate=validate.OneOf(("ok", "unreachable")))
    schema = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The latest applied migration."},
    )
    pending_migrations = fields.List(
        fields.String(), metadata={"description": "Present when the schema is behind the code."}
    )


class Liveness(Schema):
    """The body of /livez."""

    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class ListQueryContract(Schema):
    """Every listing parameter of the contract, as the document describes it."""

    status = fields.String(
        load_default="all",
        validate=validate.OneOf(STATUS_FILTERS),
        metadata={"description": "Which tasks by completion."},
    )
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    tag = fields.List(
        Tag(),
        validate=validate.Length(max=20),
        metadata={"description": "Repeatable, at most 20; the task must carry every tag given."},
    )
    q = fields.String(
        validate=validate.Length(max=500),
        metadata={
            "description": "Case-insensitive search: every whitespace-separated term must "
            "occur in the title or the description; `%` and `_` are literal. At most 500 "
            f"characters and {MAX_SEARCH_TERMS} distinct terms (a repeated term counts once).",
            "example": "milk",
        },
    )
    due_before = UtcDateTime(
        metadata={"description": "`due_at < due_before`. In a URL write `+` as `%2B`."}
    )
    due_after = UtcDateTime(
        metadata={"description": "`due_at >= due_after`. In a URL write `+` as `%2B`."}
    )
    sort = fields.String(
        load_default="created_at",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "Sort key, `-` prefix for descending. Priority ranks "
            "low < normal < high; titles compare case-insensitively by code point; tasks "
            "without `due_at` / `order` come last either way; ties break on `id`."
        },
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Page size."},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=4096),
        metadata={"description": "Opaque; taken from the `Link` header of the previous page."},
    )


class BulkQueryContract(Schema):
    """The filter of the collection's DELETE and PATCH."""

    status = fields.String(
        load_default="all",
        validate=validate.OneOf(STATUS_FILTERS),
        metadata={"description": "Which tasks the operation applies to."},
    )
