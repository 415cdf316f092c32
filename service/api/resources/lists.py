"""List resources: /api/{user_id}/lists and /api/{user_id}/lists/{list_id}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from uuid import UUID

import falcon
from marshmallow import Schema

from service.api.conditional import if_match_versions, not_modified
from service.api.representation import etag, lists_url
from service.api.schemas import list_create_schema, list_update_schema
from service.data.lists import ListStore, Row
from service.data.preconditions import PreconditionFailed
from service.data.trash import TrashStore

NOT_FOUND = "No such list."


def _found(row: Row | None) -> Row:
    if row is None:
        # The same answer whether the list never existed or belongs to someone else.
        raise falcon.HTTPNotFound(description=NOT_FOUND)
    return row


def send_list(
    req: falcon.Request, resp: falcon.Response, row: Row, status: str = falcon.HTTP_200
) -> None:
    """Answer with one list: body, ETag and status."""
    resp.status = status
    resp.media = row
    resp.set_header("ETag", etag(row))


class ListCollection:
    """A user's lists: all of them in position order, or a new one."""

    schemas: ClassVar[Mapping[str, Schema]] = {"POST": list_create_schema}

    def __init__(self, store: ListStore) -> None:
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = self._store.all(user_id)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        row = self._store.create(user_id, req.context.body)
        send_list(req, resp, row, falcon.HTTP_201)
        resp.location = f"{lists_url(req, user_id)}/{row['id']}"


class ListItem:
    """One list: read, rename or recolour, or move to the trash with its tasks."""

    schemas: ClassVar[Mapping[str, Schema]] = {"PATCH": list_update_schema}

    def __init__(self, store: ListStore, trash: TrashStore) -> None:
        self._store = store
        self._trash = trash

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, list_id: UUID
    ) -> None:
        row = _found(self._store.get(user_id, list_id))
        if not_modified(req, row):
            resp.status = falcon.HTTP_304
            resp.set_header("ETag", etag(row))
            return
        send_list(req, resp, row)

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, list_id: UUID
    ) -> None:
        row = self._store.update(user_id, list_id, req.context.body, if_match_versions(req))
        send_list(req, resp, _found(row))

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, list_id: UUID
    ) -> None:
        versions = if_match_versions(req)
        row = self._trash.delete_list(user_id, list_id, versions)
        if row is None and versions is not None and self._store.get(user_id, list_id):
            raise PreconditionFailed
        row = _found(row)
        send_list(req, resp, row)
        resp.set_header("X-Batch-ID", row["batch_id"])
