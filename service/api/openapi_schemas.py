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
from service.domain.recurrence import BASES
from service.domain.reminders import MAX_BEFORE_DUE, STATES

TIMESTAMP_EXAMPLE = "2026-01-24T10:00:00.123456Z"
STATUS_FILTERS = ("all", "pending", "completed")
SORT_KEYS = ("created_at", "updated_at", "due_at", "priority", "title", "order", "position")
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
        "position": fields.String(
            dump_only=True,
            required=required,
            metadata={
                "description": "Manual order among siblings (same list and parent), set by "
                "`POST .../move`; compare as byte strings (ties break on `id`).",
                "example": "i8E4z6V1CO56435ee7V",
            },
        ),
        "deleted_at": _timestamp(
            "Set while the task is in the trash.",
            allow_none=True,
            dump_only=True,
            required=required,
        ),
    }


class RecurrenceOut(Schema):
    """A task's recurrence as the service returns it."""

    rule = fields.String(required=True, metadata={"example": "FREQ=WEEKLY;BYDAY=MO,TH"})
    basis = fields.String(required=True, validate=validate.OneOf(BASES))


class TaskReminderOut(Schema):
    """A reminder as returned on its task: one form (`at` or `before_due`) and its state."""

    id = fields.UUID(required=True)
    at = _timestamp("Absolute form: when to fire.")
    before_due = fields.Integer(
        validate=validate.Range(min=0, max=MAX_BEFORE_DUE),
        metadata={"description": "Relative form: minutes before the task's due."},
    )
    fire_at = _timestamp("When it fires (UTC), computed.", required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    fired_at = _timestamp("When it last fired; null before.", allow_none=True, required=True)


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
    list_id = fields.UUID(
        required=True,
        allow_none=True,
        metadata={
            "description": "The task's list; null: the inbox. Sent on create or update, it "
            "moves the task with its sub-tasks (a foreign or unknown list is a 422)."
        },
    )
    parent_id = fields.UUID(
        required=True,
        allow_none=True,
        metadata={
            "description": "The parent task (same user and list; at most 4 levels; no "
            "cycles); null: top level. A sub-task goes into its parent's list."
        },
    )
    time_zone = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "IANA zone the all-day date is in; null: the user's setting "
            "(`/settings`), else UTC.",
            "example": "Europe/Berlin",
        },
    )
    due_date = fields.Date(
        required=True,
        allow_none=True,
        metadata={
            "description": "An all-day due date, `YYYY-MM-DD`; at most one of `due_at` and "
            "`due_date` is set (setting one clears the other). Overdue after the end of "
            "that day in the task's zone; `sort=due_at` places it at the start of that day.",
            "example": "2026-01-24",
        },
    )
    recurrence = fields.Nested(
        RecurrenceOut,
        required=True,
        allow_none=True,
        metadata={"description": "Null, or the task's recurrence (see createTask)."},
    )
    reminders = fields.List(
        fields.Nested(TaskReminderOut),
        required=True,
        metadata={"description": "The task's reminders, oldest first (see createTask)."},
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
            "description": "The field's name, dotted, e.g. `tags.3`, `operations.3.op` or "
            "`reminders.0.at`; "
            '`""` when the whole body or query is at fault.'
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
    list_id = fields.String(
        metadata={
            "description": "A list's id, or `inbox` for the tasks in no list.",
            "pattern": "^(inbox|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            "[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
        }
    )
    parent_id = fields.String(
        metadata={
            "description": "A task's id (its direct sub-tasks), or `none` (top-level tasks).",
            "pattern": "^(none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            "[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
        }
    )
    sort = fields.String(
        load_default="created_at",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "Sort key, `-` prefix for descending. Priority ranks "
            "low < normal < high; titles compare case-insensitively by code point; tasks "
            "without `due_at` / `order` come last either way (all-day tasks sort by the "
            "start of their day in their zone); `position` is the tree order: list (inbox "
            "first), parent (top level first), then the manual position, so with `list_id` "
            "and `parent_id` it is the siblings' manual order; ties break on `id`."
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


class ListFields(Schema):
    """A list as the service returns it."""

    id = fields.UUID(required=True, dump_only=True)
    user_id = fields.String(required=True, dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    color = fields.String(
        required=True,
        allow_none=True,
        metadata={"pattern": "^#[0-9a-f]{6}$", "example": "#1e90ff"},
    )
    position = fields.String(
        required=True,
        dump_only=True,
        metadata={"description": "The lists' order (creation order); byte-string comparison."},
    )
    open_count = fields.Integer(
        required=True,
        dump_only=True,
        validate=validate.Range(min=0),
        metadata={"description": "Open tasks in the list, sub-tasks included."},
    )
    version = fields.Integer(required=True, dump_only=True, validate=validate.Range(min=1))
    created_at = _timestamp("Set by the server.", dump_only=True, required=True)
    updated_at = _timestamp("Moves on every change.", dump_only=True, required=True)


class SettingsFields(Schema):
    """A user's settings as the service returns them."""

    time_zone = fields.String(
        required=True,
        metadata={
            "description": "IANA zone: the default of the user's tasks and of `overdue`.",
            "example": "Europe/Berlin",
        },
    )
    week_start = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=7),
        metadata={"description": "First day of the week: 1 Monday ... 7 Sunday."},
    )


class BulkQueryContract(Schema):
    """The filter of the collection's DELETE and PATCH."""

    status = fields.String(
        load_default="all",
        validate=validate.OneOf(STATUS_FILTERS),
        metadata={"description": "Which tasks the operation applies to."},
    )
