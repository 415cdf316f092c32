"""A user's whole account: GET /api/{user_id}/export and DELETE /api/{user_id}.

The export is one JSON document, streamed: the responder opens the snapshot and reads the
settings (so an unavailable database is still a 503), then hands Falcon an iterable that
writes the document piece by piece, a task at a time, from server-side cursors. The iterable
holds the snapshot's connection until the server has taken the last piece or closes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from contextvars import Context, copy_context
from typing import Any

import falcon

from service.api.media import dumps
from service.api.representation import present, tasks_url
from service.api.resources.reminders import present_reminder
from service.api.resources.webhooks import present as present_webhook
from service.data.account import AccountStore, Row, Snapshot
from service.data.settings import DEFAULTS as DEFAULT_SETTINGS

# Rows per piece handed to the server: one piece per task would be a write call per task.
ROWS_PER_PIECE = 100


class StreamedDocument:
    """A WSGI body made of `pieces`; closing it (as servers do) releases what `stack` holds.

    A generator alone would not do: one closed before its first piece never runs its
    `finally`, and the connection would leak. Every step runs in `context`, the one the
    snapshot was opened in: the pool sets and resets the request's database deadline (a
    context variable) around the connection's use, and that reset comes after the request's
    own, so done in the thread's context it would leave a stale deadline behind.
    """

    def __init__(self, pieces: Iterator[bytes], stack: ExitStack, context: Context) -> None:
        self._pieces = pieces
        self._stack = stack
        self._context = context
        self._closed = False

    def __iter__(self) -> StreamedDocument:
        return self

    def __next__(self) -> bytes:
        return self._context.run(next, self._pieces)

    def close(self) -> None:
        """Stop the pieces and release the snapshot (once; later calls do nothing)."""
        if not self._closed:
            self._closed = True
            self._context.run(self._close)

    def __del__(self) -> None:
        # A WSGI caller must close the body, but a test client may drop it unclosed: release
        # the snapshot here, in its context, rather than leave it to the garbage collector.
        self.close()

    def _close(self) -> None:
        try:
            self._pieces.close()  # type: ignore[attr-defined]
        finally:
            self._stack.close()


class UserExport:
    """Everything of one user as one JSON document: settings, lists, tasks (trash included),
    completion records and webhooks (without secrets)."""

    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        context = copy_context()
        stack = ExitStack()
        try:
            snapshot = context.run(stack.enter_context, self._accounts.snapshot(user_id))
            settings = context.run(snapshot.one, "user_settings_get")
        except BaseException:
            context.run(stack.close)
            raise
        pieces = _document(
            user_id, settings or dict(DEFAULT_SETTINGS), snapshot, tasks_url(req, user_id)
        )
        resp.content_type = falcon.MEDIA_JSON
        resp.stream = StreamedDocument(pieces, stack, context)

    def on_head(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        # Without a body: no snapshot to open.
        resp.content_type = falcon.MEDIA_JSON


class UserAccount:
    """The account itself: DELETE erases everything of the user at once and for good."""

    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = {"erased": self._accounts.erase(user_id)}


def _document(
    user_id: str, settings: Row, snapshot: Snapshot, collection_url: str
) -> Iterator[bytes]:
    """Yield the export document in pieces; each section is read while it is written."""
    yield b'{"user_id":' + dumps(user_id) + b',"settings":' + dumps(settings)
    sections: list[tuple[bytes, str, Callable[[Row], Any]]] = [
        (b"lists", "export_lists", dict),
        (b"tasks", "export_tasks", lambda row: present(row, collection_url)),
        (b"completions", "export_completions", dict),
        (b"reminders", "export_reminders", present_reminder),
        (b"webhooks", "webhook_list", present_webhook),
    ]
    for name, statement, shape in sections:
        yield b',"' + name + b'":['
        yield from _array(shape(row) for row in snapshot.rows(statement))
        yield b"]"
    yield b"}"


def _array(items: Iterable[Any]) -> Iterator[bytes]:
    """Yield the items as the inside of a JSON array, ROWS_PER_PIECE items a piece."""
    first = True
    batch: list[bytes] = []
    for item in items:
        batch.append(dumps(item))
        if len(batch) == ROWS_PER_PIECE:
            yield (b"" if first else b",") + b",".join(batch)
            first, batch = False, []
    if batch:
        yield (b"" if first else b",") + b",".join(batch)
