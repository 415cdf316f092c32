"""The changes feed: /api/{user_id}/changes (docs/sync.md)."""

from __future__ import annotations

from uuid import UUID

import falcon

from service.api.errors import RequestValidationError
from service.api.listing import CursorCodec, InvalidCursor
from service.api.representation import load_query, present, tasks_url
from service.api.schemas import changes_query_schema
from service.data.changes import START, ChangePosition, ChangeStore, CursorExpired

PURPOSE = "changes"
KINDS = ("task", "list")


class CursorGone(falcon.HTTPGone):
    """410: the cursor is older than the tombstones kept; the client syncs from the start."""

    problem_type = "urn:tasks:problem:cursor-expired"

    def __init__(self) -> None:
        super().__init__(
            description="The cursor is older than the deletions kept (90 days): sync again "
            "from the beginning (no cursor)."
        )


def _position(cursors: CursorCodec, user_id: str, token: str) -> ChangePosition:
    """Return where a feed cursor stands; a 422 naming `cursor` unless it is intact and ours."""
    try:
        data = cursors.verify(user_id, PURPOSE, token)
        seq, kind = data["s"], data["k"]
        if not isinstance(seq, int) or isinstance(seq, bool) or kind not in ("", *KINDS):
            raise ValueError(seq)
        return ChangePosition(seq=seq, kind=kind, id=UUID(data["i"]))
    except InvalidCursor as error:
        raise RequestValidationError.single("query", "cursor", str(error)) from None
    except (KeyError, TypeError, ValueError):
        raise RequestValidationError.single(
            "query", "cursor", "Not a cursor of this service."
        ) from None


class Changes:
    """What changed in a user's tasks and lists since a cursor, in commit order."""

    def __init__(self, store: ChangeStore, cursors: CursorCodec) -> None:
        self._store = store
        self._cursors = cursors

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        query = load_query(req, changes_query_schema)
        token = query.get("cursor")
        after = START if token is None else _position(self._cursors, user_id, token)
        try:
            page = self._store.page(user_id, after, query["limit"])
        except CursorExpired:
            raise CursorGone() from None
        collection_url = tasks_url(req, user_id)
        for change in page.rows:
            if change["kind"] == "task" and change["data"] is not None:
                present(change["data"], collection_url)
        cursor = self._cursors.sign(
            user_id,
            PURPOSE,
            {"s": page.next.seq, "k": page.next.kind, "i": str(page.next.id)},
        )
        resp.media = {"changes": page.rows, "cursor": cursor, "has_more": page.has_more}
