"""Task resources: /api/{user_id}/tasks, /tasks/{task_id}, .../complete and .../move."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from uuid import UUID

import falcon
from marshmallow import Schema

from service.api.conditional import if_match_versions, not_modified
from service.api.listing import CursorCodec, filters_from_query, next_page_url, page_request
from service.api.representation import etag, load_query, present, send_task, tasks_url
from service.api.schemas import (
    bulk_query_schema,
    completion_schema,
    list_query_schema,
    move_schema,
    task_create_schema,
    task_update_schema,
)
from service.data.tasks import Row, TaskStore

NOT_FOUND = "No such task."


def found(row: Row | None) -> Row:
    """Return the row, or raise the 404 of a task that is missing (or someone else's)."""
    if row is None:
        # The same answer whether the task never existed or belongs to someone else.
        raise falcon.HTTPNotFound(description=NOT_FOUND)
    return row


def complete_task(
    store: TaskStore,
    user_id: str,
    task_id: UUID,
    body: Mapping[str, Any] | None,
    versions: list[int] | None,
) -> Row | None:
    """Toggle the task (no body) or set its completed flag; return it, None when absent."""
    if body is None:
        return store.toggle(user_id, task_id, versions)
    return store.update(user_id, task_id, {"completed": body["completed"]}, versions)


class TaskCollection:
    """A user's tasks: list them (filtered, sorted, paged), create one, change or delete many."""

    schemas: ClassVar[Mapping[str, Schema]] = {
        "POST": task_create_schema,
        "PATCH": completion_schema,
    }

    def __init__(self, store: TaskStore, cursors: CursorCodec) -> None:
        self._store = store
        self._cursors = cursors

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        request = page_request(user_id, load_query(req, list_query_schema), self._cursors)
        page = self._store.listing.page(user_id, request)
        collection_url = tasks_url(req, user_id)
        resp.media = [present(row, collection_url) for row in page.rows]
        if page.next is not None:
            cursor = self._cursors.encode(user_id, request, page.next)
            resp.append_header(
                "Link", f'<{next_page_url(collection_url, req.params, cursor)}>; rel="next"'
            )

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        filters = filters_from_query(load_query(req, bulk_query_schema))
        deleted, batch_id = self._store.trash.delete_matching(user_id, filters.completed)
        resp.media = {"deleted": deleted, "batch_id": batch_id}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        filters = filters_from_query(load_query(req, bulk_query_schema))
        completed = req.context.body["completed"]
        updated = self._store.set_completed_matching(user_id, filters, completed)
        resp.media = {"updated": updated}

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        row = self._store.create(user_id, req.context.body)
        send_task(req, resp, row, falcon.HTTP_201)
        resp.location = resp.media["url"]


class TaskItem:
    """One task: read, update (PUT and PATCH both merge the given fields), trash."""

    schemas: ClassVar[Mapping[str, Schema]] = {
        "PUT": task_update_schema,
        "PATCH": task_update_schema,
    }

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        row = found(self._store.get(user_id, task_id))
        if not_modified(req, row):
            resp.status = falcon.HTTP_304
            resp.set_header("ETag", etag(row))
            return
        send_task(req, resp, row)

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        row = self._store.update(user_id, task_id, req.context.body, if_match_versions(req))
        send_task(req, resp, found(row))

    on_patch = on_put

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        row = found(self._store.delete(user_id, task_id, if_match_versions(req)))
        send_task(req, resp, row)
        resp.set_header("X-Batch-ID", row["batch_id"])


class TaskCompletion:
    """A task's completed flag: no body toggles it, {"completed": bool} sets it."""

    schemas: ClassVar[Mapping[str, Schema]] = {"PATCH": completion_schema}
    optional_body: ClassVar[frozenset[str]] = frozenset({"PATCH"})

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        row = complete_task(self._store, user_id, task_id, req.context.body, if_match_versions(req))
        send_task(req, resp, found(row))


class TaskMove:
    """Place a task (with its sub-tree) under a parent, in a list, right after a sibling."""

    schemas: ClassVar[Mapping[str, Schema]] = {"POST": move_schema}

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        row = self._store.move(user_id, task_id, req.context.body, if_match_versions(req))
        send_task(req, resp, found(row))
