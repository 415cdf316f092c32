"""POST /api/{user_id}/batch: up to 100 task operations, applied in order, each on its own.

Each operation goes through the same schema and the same store method as its single route
(create: POST /tasks, update: PATCH /tasks/{id}, complete: PATCH .../complete, delete: DELETE
/tasks/{id}, move: POST .../move), in a transaction of its own (a savepoint of the request's
transaction under an Idempotency-Key), and its result is the status and body that route
would answer: the task, or the problem details of its error. One failing operation leaves
the others as they are. A create's `temp_id` names the new task to the later operations, as
their `id` or as `parent_id` / `after` in their body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from uuid import UUID

import falcon
from falcon.request_helpers import _parse_etags
from marshmallow import Schema, ValidationError

from service.api.conditional import precondition_failed, versions_matching
from service.api.errors import RequestValidationError, problem, rule_violation
from service.api.middleware import path_uuid
from service.api.ratelimit import charge_operations
from service.api.representation import present, tasks_url
from service.api.resources.tasks import complete_task, found
from service.api.schemas import (
    batch_schema,
    completion_schema,
    move_schema,
    task_create_schema,
    task_update_schema,
)
from service.data.preconditions import PreconditionFailed
from service.data.tasks import Row, TaskStore
from service.domain.tree import RuleViolation

# The body fields that may name an earlier operation's temp_id instead of a task id.
TEMP_ID_FIELDS = ("parent_id", "after")

Action = Callable[[str, UUID, Any, list[int] | None], Row | None]


class Batch:
    """A user's batch of task operations: the results in order and the temp_id mapping."""

    schemas: ClassVar[Mapping[str, Schema]] = {"POST": batch_schema}

    def __init__(self, store: TaskStore) -> None:
        self._store = store
        # op -> (the single route's body schema or None, whether a body is optional, action)
        self._ops: dict[str, tuple[Schema | None, bool, Action]] = {
            "update": (task_update_schema, False, store.update),
            "complete": (
                completion_schema,
                True,
                lambda user_id, task_id, body, versions: complete_task(
                    store, user_id, task_id, body, versions
                ),
            ),
            "delete": (
                None,
                True,
                lambda user_id, task_id, body, versions: store.delete(user_id, task_id, versions),
            ),
            "move": (move_schema, False, store.move),
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        operations = req.context.body["operations"]
        # A batch counts one per operation against the rate limit (the request took one).
        charge_operations(req, len(operations))
        collection_url = tasks_url(req, user_id)
        temp_ids: dict[str, str] = {}
        results = []
        for operation in operations:
            try:
                status, row = self._apply(user_id, operation, temp_ids)
            except falcon.HTTPError as error:
                results.append({"status": error.status_code, "body": problem(req, error)})
                continue
            if "temp_id" in operation:
                temp_ids[operation["temp_id"]] = str(row["id"])
            results.append({"status": status, "body": present(row, collection_url)})
        resp.media = {"results": results, "temp_ids": temp_ids}

    def _apply(
        self, user_id: str, operation: Mapping[str, Any], temp_ids: Mapping[str, str]
    ) -> tuple[int, Row]:
        """Run one operation as its single route would; raise the HTTPError it would answer."""
        kind = operation["op"]
        body = _with_task_ids(operation.get("body"), temp_ids)
        try:
            if kind == "create":
                fields = _load(task_create_schema, body, optional=False)
                with self._store.operation():
                    return 201, self._store.create(user_id, fields)
            schema, optional, action = self._ops[kind]
            task_id = path_uuid("task_id", temp_ids.get(operation["id"], operation["id"]))
            versions = _if_match(operation.get("if_match"))
            loaded = None if schema is None else _load(schema, body, optional)
            with self._store.operation():
                return 200, found(action(user_id, task_id, loaded, versions))
        except PreconditionFailed:
            raise precondition_failed() from None
        except RuleViolation as error:
            raise rule_violation(error) from None


def _with_task_ids(body: Any, temp_ids: Mapping[str, str]) -> Any:
    """Return `body` with the temp_ids it names in parent_id / after replaced by task ids."""
    if not isinstance(body, dict):
        return body
    return {
        name: temp_ids.get(value, value)
        if name in TEMP_ID_FIELDS and isinstance(value, str)
        else value
        for name, value in body.items()
    }


def _load(schema: Schema, body: Any, optional: bool) -> Any:
    """Validate an operation's body as its single route validates the request body."""
    if body is None and optional:
        return None
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(description="The body must be a JSON object.")
    try:
        return schema.load(body)
    except ValidationError as error:
        raise RequestValidationError.from_marshmallow(error, "body") from None


def _if_match(value: str | None) -> list[int] | None:
    """Return the versions an operation's if_match allows, read as an If-Match header is."""
    if value is None:
        return None
    return versions_matching(_parse_etags(value))
