"""Trash resources: /api/{user_id}/trash, .../trash/{batch_id} and .../restore."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import falcon

from service.api.errors import RequestValidationError
from service.api.listing import CursorCodec, InvalidCursor, next_page_url
from service.api.representation import load_query, present, tasks_url
from service.api.schemas import trash_query_schema
from service.data.trash import TrashPosition, TrashStore

NOT_FOUND = "No such batch in the trash."
PURPOSE = "trash"


def _position(cursors: CursorCodec, user_id: str, token: str) -> TrashPosition:
    """Return where a trash cursor stands; a 422 naming `cursor` unless it is intact."""
    try:
        data = cursors.verify(user_id, PURPOSE, token)
        return TrashPosition(deleted_at=datetime.fromisoformat(data["t"]), id=UUID(data["i"]))
    except InvalidCursor as error:
        raise RequestValidationError.single("query", "cursor", str(error)) from None
    except (KeyError, TypeError, ValueError):
        raise RequestValidationError.single(
            "query", "cursor", "Not a cursor of this service."
        ) from None


class Trash:
    """A user's trash: page it newest deletion first, or empty it for good."""

    def __init__(self, store: TrashStore, cursors: CursorCodec) -> None:
        self._store = store
        self._cursors = cursors

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        query = load_query(req, trash_query_schema)
        token = query.get("cursor")
        after = None if token is None else _position(self._cursors, user_id, token)
        page = self._store.page(user_id, query["limit"], after)
        collection_url = tasks_url(req, user_id)
        for row in page.rows:
            if row["kind"] == "task":
                present(row["data"], collection_url)
        resp.media = page.rows
        if page.next is not None:
            cursor = self._cursors.sign(
                user_id,
                PURPOSE,
                {"t": page.next.deleted_at.isoformat(), "i": str(page.next.id)},
            )
            trash_url = tasks_url(req, user_id).removesuffix("/tasks") + "/trash"
            resp.append_header(
                "Link", f'<{next_page_url(trash_url, req.params, cursor)}>; rel="next"'
            )

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = {"purged": self._store.purge(user_id, None)}


class TrashBatch:
    """One batch of the trash: purge it for good."""

    def __init__(self, store: TrashStore) -> None:
        self._store = store

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, batch_id: UUID
    ) -> None:
        purged = self._store.purge(user_id, batch_id)
        if not purged:
            # The same answer whether the batch never existed, is gone, or is someone else's.
            raise falcon.HTTPNotFound(description=NOT_FOUND)
        resp.media = {"purged": purged}


class TrashRestore:
    """Bring a batch back from the trash, with the trashed parents and lists it needs."""

    def __init__(self, store: TrashStore) -> None:
        self._store = store

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, batch_id: UUID
    ) -> None:
        restored = self._store.restore(user_id, batch_id)
        if not restored:
            raise falcon.HTTPNotFound(description=NOT_FOUND)
        resp.media = {"restored": restored}
