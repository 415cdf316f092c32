"""The OpenAPI 3.1 document of the contract, built with apispec from the marshmallow schemas.

Request bodies come from the schemas the service validates with (service/api/schemas.py);
listing parameters from the contract's definitions plus any other field ListQuery validates;
responses from service/api/openapi_schemas.py; paths, operations, headers and error responses
are declared here, once, following the contract. The
document is built once per process (`openapi_document`) and served as bytes.
"""

from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from service.api import openapi_schemas as out
from service.api.media import MERGE_PATCH_JSON, dumps
from service.api.middleware import _SANE_REQUEST_ID, _USER_ID
from service.api.schemas import CompletionWrite, ListQuery, ListWrite, MoveWrite, SettingsWrite
from service.core.config import MAX_BODY_BYTES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"

TASKS = "/api/{user_id}/tasks"
TASK = "/api/{user_id}/tasks/{task_id}"
COMPLETION = "/api/{user_id}/tasks/{task_id}/complete"
STATS = "/api/{user_id}/stats"
MOVE = "/api/{user_id}/tasks/{task_id}/move"
LISTS = "/api/{user_id}/lists"
LIST = "/api/{user_id}/lists/{list_id}"
SETTINGS = "/api/{user_id}/settings"

DESCRIPTION = f"""\
A per-user task (to-do) service. Every `/api/{{user_id}}/...` path belongs to the user
named in it; a user never sees, changes or learns of another user's tasks (a task of
someone else answers exactly like one that does not exist).

**Errors** are `application/problem+json` (RFC 9457) carrying the `request_id`; a 422
also lists `errors: [{{location, field, message}}]`. Any path that is not listed here
answers 404, and any method a path does not list answers 405 with an `Allow` header.

**Bodies** are JSON objects of at most {MAX_BODY_BYTES} bytes; types are strict (no `"5"`
for 5, no `1` for `true`), unknown fields are a 422, read-only fields are ignored.
Timestamps are RFC 3339; responses give them in UTC with microseconds and `Z`.

**Authentication** is off unless the deployment configures JWT: then every `/api/...`
request but a CORS preflight needs `Authorization: Bearer <token>` whose `sub` is the
`{{user_id}}` of the path.

**Rate limits**: each user has a token bucket (6000 requests a minute unless the deployment
sets otherwise); requests that fail authentication, or name no user, count against the
client address. Every `/api/...` answer carries `RateLimit-Policy` and `RateLimit` (IETF
httpapi ratelimit-headers draft); past the limit the answer is a 429 with `Retry-After`.

**CORS**: allowed origins are configured (`CORS_ALLOW_ORIGINS`, default `*`); every path
answers the `OPTIONS` preflight for the methods it lists.
"""

# Component names, explicit rather than derived by apispec from the class names.
SCHEMAS: dict[str, type[Schema]] = {
    "Task": out.TaskOut,
    "FieldError": out.FieldError,
    "Problem": out.Problem,
    "ValidationProblem": out.ValidationProblem,
    "Completion": CompletionWrite,
    "Deleted": out.Deleted,
    "Updated": out.Updated,
    "Stats": out.Stats,
    "List": out.ListFields,
    "Settings": out.SettingsFields,
    "Move": MoveWrite,
    "Health": out.Health,
    "Liveness": out.Liveness,
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The client's X-Request-ID when it is sane, else a generated one; "
        "it is in every log line of the request.",
        "schema": {"type": "string", "pattern": f"^{_SANE_REQUEST_ID.pattern}$"},
    },
    "ETag": {
        "description": "Strong entity tag of the task or list (its version).",
        "schema": {"type": "string", "example": '"3"'},
    },
    "Location": {
        "description": "Absolute URL of the created task.",
        "schema": {"type": "string", "format": "uri"},
    },
    "Link": {
        "description": 'Present when, and only when, more tasks match: `<url>; rel="next"`, '
        "whose cursor continues exactly where this page ended.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "Present on a stored response replayed for a repeated Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "The authentication scheme the service expects.",
        "schema": {"type": "string", "example": "Bearer"},
    },
    "RateLimit-Policy": {
        "description": 'The rate-limit policy: `"default";q=<quota>;w=<window seconds>`, a '
        "token bucket of `q` requests refilled evenly over `w` seconds.",
        "schema": {
            "type": "string",
            "pattern": '^"default";q=[0-9]+;w=[0-9]+$',
            "example": '"default";q=6000;w=60',
        },
    },
    "RateLimit": {
        "description": 'The bucket after this request: `"default";r=<remaining>;t=<seconds '
        "until full>`.",
        "schema": {
            "type": "string",
            "pattern": '^"default";r=[0-9]+;t=[0-9]+$',
            "example": '"default";r=5999;t=1',
        },
    },
    "Allow": {
        "description": "The methods the path supports.",
        "schema": {"type": "string", "example": "GET, POST, OPTIONS"},
    },
}

PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "user_id": (
        "path",
        {
            "name": "user_id",
            "description": "The owner: opaque text (ids from common auth providers fit).",
            "schema": {"type": "string", "pattern": f"^{_USER_ID.pattern}$"},
        },
    ),
    "task_id": (
        "path",
        {"name": "task_id", "schema": {"type": "string", "format": "uuid"}},
    ),
    "list_id": (
        "path",
        {"name": "list_id", "schema": {"type": "string", "format": "uuid"}},
    ),
    "X-Request-ID": (
        "header",
        {
            "name": "X-Request-ID",
            "description": "Echoed back when sane; one is generated otherwise.",
            "schema": {"type": "string"},
        },
    ),
    "If-Match": (
        "header",
        {
            "name": "If-Match",
            "description": "An ETag of the task, or `*`: the write happens only if it matches "
            "(412 otherwise).",
            "schema": {"type": "string"},
        },
    ),
    "If-None-Match": (
        "header",
        {
            "name": "If-None-Match",
            "description": "ETags the client holds: 304 when the task still has one of them.",
            "schema": {"type": "string"},
        },
    ),
    "Idempotency-Key": (
        "header",
        {
            "name": "Idempotency-Key",
            "description": "1-255 printable ASCII characters, per user. The first request "
            "with a key is executed once; a repeat within 24 hours with the same method, path "
            "and body gets the stored status, headers and body again plus "
            "`Idempotent-Replayed: true`; a repeat with anything different is a 422; a "
            "repeat while the first is still running is a 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
        },
    ),
}


def _problem(description: str, schema: str = "Problem", **headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": "X-Request-ID", **headers},
        "content": {PROBLEM_JSON: {"schema": schema}},
    }


# Every error status of the contract, as a reusable response named by its status.
PROBLEMS: dict[int, dict[str, Any]] = {
    400: _problem(
        "The body is not valid JSON, or not a JSON object where one is needed; or the request "
        "is not HTTP the server can parse (refused before the app sees it)."
    ),
    401: _problem(
        "Authentication is configured and the bearer token is missing or invalid.",
        **{"WWW-Authenticate": "WWW-Authenticate"},
    ),
    403: _problem("The token's subject is not the `user_id` of the path."),
    404: _problem("No such task, list or trash batch for this user (or no such route)."),
    405: _problem("The path does not support this method.", Allow="Allow"),
    409: _problem("A request with the same Idempotency-Key is still in progress."),
    410: _problem(
        "The changes-feed cursor is older than the deletions kept (90 days); the problem's "
        "`type` ends in `cursor-expired`: sync again from the beginning."
    ),
    412: _problem("If-Match does not match the current ETag."),
    408: _problem(
        "The request did not arrive whole in time: its head within 5 s of its first byte, its "
        "body within 10 s of the head (refused before the app sees it)."
    ),
    413: _problem(f"The body is larger than {MAX_BODY_BYTES} bytes."),
    415: _problem("The body's Content-Type is not JSON."),
    422: _problem(
        "Validation failed; `errors` names each offending field. Also a reused "
        "Idempotency-Key with a different request.",
        schema="ValidationProblem",
    ),
    414: _problem("The request line is longer than 4,094 bytes (refused before the app sees it)."),
    429: _problem(
        "Past the rate limit; retry after `Retry-After` seconds.",
        **{"Retry-After": "Retry-After"},
    ),
    431: _problem("A header field is too large (refused before the app sees it)."),
    500: _problem("Unexpected; logged with the request id."),
    503: _problem(
        "The database is unreachable, frozen or overloaded; retry after `Retry-After`.",
        **{"Retry-After": "Retry-After"},
    ),
}

NOT_MODIFIED = {
    "description": "The task still has the ETag given in If-None-Match.",
    "headers": {"X-Request-ID": "X-Request-ID", "ETag": "ETag"},
}

# Authentication is optional (off unless configured): `{}` admits anonymous requests.
API_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]
# Any request may be refused by the HTTP server before routing: not HTTP (400), too slow to
# arrive (408), too large a body (413), too long a request line (414), too large a header
# field (431).
SERVER_ERRORS = (400, 408, 413, 414, 431)
# Of those, the ones only the HTTP server answers: they never carry the rate-limit headers.
SERVER_ONLY_ERRORS = (408, 414, 431)
API_ERRORS = (401, 403, 422, 429, 500, 503, *SERVER_ERRORS)
# On every answer under /api/ (the rate limit applies to all of them, errors included).
RATE_LIMIT_HEADERS = {"RateLimit-Policy": "RateLimit-Policy", "RateLimit": "RateLimit"}
BODY_ERRORS = (400, 413, 415)
# On the answer of a delete: the trash batch it made, and the replay marker.
TRASH_HEADERS = {"X-Batch-ID": "X-Batch-ID", "Idempotent-Replayed": "Idempotent-Replayed"}


def _responses(success: dict[str, dict[str, Any]], *statuses: int) -> dict[str, Any]:
    responses: dict[str, Any] = dict(success)
    for status in sorted(set(statuses)):
        responses[str(status)] = str(status)
    return responses


def _ok(description: str, schema: Any, *, media_type: str = JSON, **headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": "X-Request-ID", **headers},
        "content": {media_type: {"schema": schema}},
    }


def _task(description: str, *, replayable: bool = True, **headers: str) -> dict[str, Any]:
    extra = {"Idempotent-Replayed": "Idempotent-Replayed"} if replayable else {}
    return _ok(description, "Task", ETag="ETag", **headers, **extra)


# Realistic bodies for Swagger UI's "Try it out" (a due date in the future, real words).
CREATE_EXAMPLE = {
    "title": "Buy milk",
    "description": "2 litres, semi-skimmed",
    "priority": "high",
    "due_at": "2027-01-24T09:00:00Z",
    "tags": ["home", "shopping"],
    "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=SU", "basis": "due"},
}
UPDATE_EXAMPLE = {"title": "Buy oat milk", "due_at": "2027-01-25T18:00:00+01:00"}
COMPLETION_EXAMPLE = {"completed": True}
MOVE_EXAMPLE = {"after": None}  # first among its siblings, same parent and list
LIST_CREATE_EXAMPLE = {"name": "Groceries", "color": "#2e7d32"}
LIST_UPDATE_EXAMPLE = {"name": "Weekly groceries"}
SETTINGS_EXAMPLE = {"time_zone": "Europe/Berlin", "week_start": 1}


def _body(
    schema: Any,
    example: dict[str, Any] | None = None,
    *,
    required: bool = True,
    merge_patch: bool = False,
) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    content: dict[str, Any] = {JSON: media}
    if merge_patch:
        content[MERGE_PATCH_JSON] = dict(media)
    return {"required": required, "content": content}


def _api_operation(
    operation_id: str,
    summary: str,
    *,
    responses: dict[str, Any],
    tag: str = "tasks",
    parameters: tuple[Any, ...] = (),
    errors: tuple[int, ...] = (),
    **rest: Any,
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": API_SECURITY,
        "parameters": ["X-Request-ID", *parameters],
        **rest,
        "responses": _responses(responses, *API_ERRORS, *errors),
    }


def list_query_schema() -> Schema:
    """Return the listing parameters: the contract's, plus any other ListQuery validates.

    The contract's definitions win for the names it lists (they carry its enums,
    defaults and wording); tests check that every field ListQuery validates is documented.
    """
    declared = {**ListQuery._declared_fields, **out.ListQueryContract._declared_fields}
    return Schema.from_dict(declared, name="ListQueryDoc")()


def _api_paths() -> dict[str, dict[str, Any]]:
    task_write = ("Idempotency-Key", "If-Match")
    return {
        TASKS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listTasks",
                "List the user's tasks",
                description="Filters combine with AND. The body is a JSON array; when more "
                "tasks match, the `Link` header points at the next page (keyset pagination).",
                parameters=({"in": "query", "schema": list_query_schema()},),
                responses={
                    "200": _ok("A page of tasks.", {"type": "array", "items": "Task"}, Link="Link")
                },
            ),
            "post": _api_operation(
                "createTask",
                "Create a task",
                parameters=("Idempotency-Key",),
                requestBody=_body("TaskCreate", CREATE_EXAMPLE),
                responses={"201": _task("The created task.", Location="Location")},
                errors=(*BODY_ERRORS, 409),
            ),
            "delete": _api_operation(
                "deleteTasks",
                "Move the user's tasks that match `status` to the trash",
                description="With their sub-tasks, as one batch (`batch_id`).",
                parameters=({"in": "query", "schema": out.BulkQueryContract}, "Idempotency-Key"),
                responses={
                    "200": _ok(
                        "How many tasks went to the trash, sub-tasks included.",
                        "TrashedTasks",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(409,),
            ),
            "patch": _api_operation(
                "completeTasks",
                "Set `completed` on the user's tasks that match `status`",
                parameters=({"in": "query", "schema": out.BulkQueryContract}, "Idempotency-Key"),
                requestBody=_body("Completion", COMPLETION_EXAMPLE),
                responses={
                    "200": _ok(
                        "How many tasks changed.",
                        "Updated",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(*BODY_ERRORS, 409),
            ),
        },
        TASK: {
            "parameters": ["user_id", "task_id"],
            "get": _api_operation(
                "getTask",
                "Read a task",
                parameters=("If-None-Match",),
                responses={
                    "200": _task("The task.", replayable=False),
                    "304": NOT_MODIFIED,
                },
                errors=(404,),
            ),
            "put": _api_operation(
                "updateTask",
                "Update the given fields of a task",
                description="Omitted fields keep their values; an empty object is a 422; "
                "values equal to the current ones leave the task (and its version) unchanged.",
                parameters=task_write,
                requestBody=_body("TaskUpdate", UPDATE_EXAMPLE),
                responses={"200": _task("The updated task.")},
                errors=(*BODY_ERRORS, 404, 409, 412),
            ),
            "patch": _api_operation(
                "patchTask",
                "Merge-patch a task",
                description="Same as PUT (JSON merge patch: `null` clears a nullable field); "
                "also accepts `application/merge-patch+json`.",
                parameters=task_write,
                requestBody=_body("TaskUpdate", UPDATE_EXAMPLE, merge_patch=True),
                responses={"200": _task("The updated task.")},
                errors=(*BODY_ERRORS, 404, 409, 412),
            ),
            "delete": _api_operation(
                "deleteTask",
                "Move a task with its sub-tasks to the trash",
                description="As one batch; the answer is the task with `deleted_at` and "
                "`batch_id`. From then on every request on it is a 404 until it is restored.",
                parameters=task_write,
                responses={
                    "200": _ok(
                        "The trashed task.",
                        "TrashedTask",
                        ETag="ETag",
                        **{
                            "X-Batch-ID": "X-Batch-ID",
                            "Idempotent-Replayed": "Idempotent-Replayed",
                        },
                    )
                },
                errors=(404, 409, 412),
            ),
        },
        COMPLETION: {
            "parameters": ["user_id", "task_id"],
            "patch": _api_operation(
                "completeTask",
                "Toggle or set a task's completed flag",
                description='No body toggles `completed`; `{"completed": bool}` sets it '
                "(idempotent).",
                parameters=task_write,
                requestBody=_body("Completion", COMPLETION_EXAMPLE, required=False),
                responses={"200": _task("The task.")},
                errors=(*BODY_ERRORS, 404, 409, 412),
            ),
        },
        MOVE: {
            "parameters": ["user_id", "task_id"],
            "post": _api_operation(
                "moveTask",
                "Move a task (with its sub-tree) under a parent, in a list, after a sibling",
                description="`parent_id` and `list_id` pick the new place (omitted: the "
                "task's own; a task moved to another list without a parent goes to its top "
                "level); `after` is the sibling to follow there (null: first). Only the task "
                "gets a new `position` (fractional: no sibling is renumbered); the sub-tree "
                "follows the task's list. 422 for a parent in another list, a 5th level, a "
                "cycle, or an `after` that is not a sibling at the new place.",
                parameters=task_write,
                requestBody=_body("Move", MOVE_EXAMPLE),
                responses={"200": _task("The moved task.")},
                errors=(*BODY_ERRORS, 404, 409, 412),
            ),
        },
        LISTS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listLists",
                "List the user's lists",
                tag="lists",
                description="All of them (at most 1,000) in `position` order, each with "
                "`open_count`. The inbox (`list_id` null) is not a list here.",
                responses={"200": _ok("The lists.", {"type": "array", "items": "List"})},
            ),
            "post": _api_operation(
                "createList",
                "Create a list",
                tag="lists",
                description="At the end of the user's lists; a 1,001st list is a 422.",
                parameters=("Idempotency-Key",),
                requestBody=_body("ListCreate", LIST_CREATE_EXAMPLE),
                responses={
                    "201": _ok(
                        "The created list.",
                        "List",
                        ETag="ETag",
                        Location="Location",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(*BODY_ERRORS, 409),
            ),
        },
        LIST: {
            "parameters": ["user_id", "list_id"],
            "get": _api_operation(
                "getList",
                "Read a list",
                tag="lists",
                parameters=("If-None-Match",),
                responses={
                    "200": _ok("The list.", "List", ETag="ETag"),
                    "304": NOT_MODIFIED,
                },
                errors=(404,),
            ),
            "patch": _api_operation(
                "patchList",
                "Rename or recolour a list",
                tag="lists",
                parameters=task_write,
                requestBody=_body("ListUpdate", LIST_UPDATE_EXAMPLE, merge_patch=True),
                responses={
                    "200": _ok(
                        "The updated list.",
                        "List",
                        ETag="ETag",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(*BODY_ERRORS, 404, 409, 412),
            ),
            "delete": _api_operation(
                "deleteList",
                "Move a list with its tasks to the trash",
                tag="lists",
                description="As one batch; the answer is the list with `deleted_at` and "
                "`batch_id` (`open_count`: its open tasks that went with it).",
                parameters=task_write,
                responses={
                    "200": _ok(
                        "The trashed list.",
                        "TrashedList",
                        ETag="ETag",
                        **{
                            "X-Batch-ID": "X-Batch-ID",
                            "Idempotent-Replayed": "Idempotent-Replayed",
                        },
                    )
                },
                errors=(404, 409, 412),
            ),
        },
        SETTINGS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "getSettings",
                "Read the user's settings",
                tag="settings",
                description="The defaults (`UTC`, week starting on Monday) until changed.",
                responses={"200": _ok("The settings.", "Settings")},
            ),
            "patch": _api_operation(
                "patchSettings",
                "Change the user's settings",
                tag="settings",
                description="The given settings change, the others keep their values; "
                "`time_zone` is the zone of the user's tasks that have none of their own.",
                parameters=("Idempotency-Key",),
                requestBody=_body("SettingsUpdate", SETTINGS_EXAMPLE, merge_patch=True),
                responses={
                    "200": _ok(
                        "The settings.",
                        "Settings",
                        **{"Idempotent-Replayed": "Idempotent-Replayed"},
                    )
                },
                errors=(*BODY_ERRORS, 409),
            ),
        },
        STATS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "getStats",
                "Count the user's tasks",
                tag="stats",
                responses={"200": _ok("The counts.", "Stats")},
            ),
        },
    }


def _operational_paths() -> dict[str, dict[str, Any]]:
    def health(operation_id: str, summary: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "description": "Checks within 1 s that the database answers and its schema is current.",
            "tags": ["operations"],
            "responses": _responses(
                {
                    "200": _ok("Healthy.", "Health"),
                    "503": _ok("Unhealthy.", "Health", **{"Retry-After": "Retry-After"}),
                },
                *SERVER_ONLY_ERRORS,
            ),
        }

    def simple(operation_id: str, summary: str, tag: str, ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "tags": [tag],
            "responses": _responses({"200": ok}, *SERVER_ONLY_ERRORS),
        }

    text = {"type": "string"}
    return {
        "/health": {"get": health("getHealth", "Check the database and its schema")},
        "/readyz": {"get": health("getReadiness", "Check readiness (same as /health)")},
        "/livez": {
            "get": simple(
                "getLiveness",
                "Check the process is up (no database)",
                "operations",
                _ok("Alive.", "Liveness"),
            )
        },
        "/metrics": {
            "get": simple(
                "getMetrics",
                "Read Prometheus metrics",
                "operations",
                _ok(
                    "Request counts and latencies by route and status, pool state.",
                    text,
                    media_type="text/plain",
                ),
            )
        },
        "/openapi.json": {
            "get": simple(
                "getOpenApi",
                "Read this OpenAPI document",
                "docs",
                _ok("OpenAPI 3.1 document.", {"type": "object"}),
            )
        },
        "/docs": {
            "get": simple(
                "getDocs",
                "Browse the interactive API page",
                "docs",
                _ok("HTML page over /openapi.json.", text, media_type="text/html"),
            )
        },
    }


def _with_rate_limit_headers(operation: dict[str, Any]) -> None:
    """Add the rate-limit headers to every inline response of an /api/ operation."""
    responses = operation["responses"]
    for status, response in responses.items():
        # A string names a component of PROBLEMS, which carries them already.
        if isinstance(response, dict):
            headers = {**response.get("headers", {}), **RATE_LIMIT_HEADERS}
            responses[status] = {**response, "headers": headers}


def build_spec() -> APISpec:
    """Build the apispec object of the whole contract."""
    # Imported here: that module builds on this one's helpers.
    from service.api import openapi_account as account
    from service.api import openapi_batch as batch
    from service.api import openapi_recurrence as recurrence
    from service.api import openapi_reminders as reminders
    from service.api import openapi_trash as trash
    from service.api import openapi_webhooks as hooks

    spec = APISpec(
        title="Tasks service",
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        tags=[
            {"name": "tasks", "description": "A user's tasks."},
            {"name": "stats", "description": "Counts over a user's tasks."},
            {"name": "lists", "description": "A user's task lists (the inbox is list_id null)."},
            {"name": "settings", "description": "A user's time zone and week start."},
            {"name": "account", "description": "Everything of a user: export and erase."},
            {"name": "operations", "description": "Health, readiness, liveness, metrics."},
            {"name": "docs", "description": "This document and the page over it."},
            hooks.TAG,
            trash.TAG,
            trash.SYNC_TAG,
            reminders.TAG,
        ],
    )
    schemas = {
        **SCHEMAS,
        **hooks.SCHEMAS,
        **recurrence.SCHEMAS,
        **trash.SCHEMAS,
        **batch.SCHEMAS,
        **account.SCHEMAS,
        **reminders.SCHEMAS,
    }
    for name, schema in schemas.items():
        spec.components.schema(name, schema=schema)
    spec.components.schema("TaskCreate", schema=out.TaskInput)
    spec.components.schema("TaskUpdate", schema=out.TaskInput(partial=True))
    spec.components.schema("ListCreate", schema=ListWrite)
    spec.components.schema("ListUpdate", schema=ListWrite(partial=True))
    spec.components.schema("SettingsUpdate", schema=SettingsWrite)
    for name, header in {**HEADERS, **trash.HEADERS}.items():
        spec.components.header(name, header)
    parameters = {**PARAMETERS, **hooks.PARAMETERS, **trash.PARAMETERS, **reminders.PARAMETERS}
    for name, (location, parameter) in parameters.items():
        spec.components.parameter(name, location, parameter)
    for status, response in PROBLEMS.items():
        # The app answers problems only under /api/, so each carries the rate-limit headers;
        # the HTTP server's own refusals (414, 431) come before the app and carry none.
        if status not in SERVER_ONLY_ERRORS:
            response = {**response, "headers": {**response["headers"], **RATE_LIMIT_HEADERS}}
        spec.components.response(str(status), response)
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Only when the deployment configures JWT; `sub` must be the "
            "`user_id` of the path.",
        },
    )
    paths = {
        **_api_paths(),
        **recurrence.completion_paths(),
        **batch.batch_paths(),
        **account.account_paths(),
        **reminders.reminder_paths(),
        **hooks.webhook_paths(),
        **trash.trash_paths(),
        **_operational_paths(),
    }
    for path, item in paths.items():
        # Path parameters go on each operation: Swagger UI leaves path-level $refs unresolved.
        path_parameters = item.pop("parameters", [])
        for operation in item.values():
            operation["parameters"] = [*path_parameters, *operation.get("parameters", [])]
            if path.startswith("/api/"):
                _with_rate_limit_headers(operation)
        spec.path(path=path, operations=item)
    return spec


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document as a dict (built once per process; do not mutate)."""
    return build_spec().to_dict()


@functools.cache
def openapi_json() -> bytes:
    """Return the OpenAPI document serialized as JSON."""
    return dumps(openapi_document())
