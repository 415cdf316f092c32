"""Idempotency-Key: run a write once, replay its answer to repeats for 24 hours.

One Falcon middleware covers every POST, PUT, PATCH and DELETE under /api/ that carries the
header, whatever the route, so new write endpoints get the behaviour without opting in.

For a key it has not seen, the middleware opens a transaction on one pooled connection,
claims the key there (a transaction-scoped advisory lock: a duplicate arriving meanwhile
gets a 409 at once instead of queueing behind it), binds the connection so the resource's
DAO calls run in that transaction, and, once the responder answered 2xx, stores status,
headers and body in the same transaction before committing. A crash, a 4xx or a 5xx rolls
back the write and the key together, so a retry runs afresh and a key never exists without
its write (nor a write without its key). Requests without the header keep the one-round-trip
autocommit path.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import falcon
import orjson
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from service.api.errors import RequestValidationError
from service.data import unit_of_work
from service.data.queries import Queries

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Only what describes the result; X-Request-ID and CORS headers belong to each request.
STORED_HEADERS = ("ETag", "Location", "Content-Type", "Link", "X-Batch-ID")

_VALID_KEY = re.compile(r"[ -~]{1,255}")


class KeyInProgress(falcon.HTTPConflict):
    """A 409: another request with the same key has not finished."""

    def __init__(self) -> None:
        super().__init__(
            description="A request with this Idempotency-Key is still in progress; retry later.",
            headers={"Retry-After": "1"},
        )


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: whether it is free now, and any record stored for it."""

    acquired: bool
    fingerprint: bytes | None
    status: int | None
    headers: dict[str, str] | None
    body: bytes | None


class IdempotencyStore:
    """The SQL of the idempotency_keys table, run on the caller's connection."""

    def __init__(self, queries: Queries) -> None:
        self._claim = queries["idempotency_claim"]
        self._save = queries["idempotency_save"]

    def claim(self, conn: psycopg.Connection, user_id: str, key: str) -> Claim:
        """Lock (user_id, key) for the current transaction, unless taken, and read its record."""
        row = conn.execute(self._claim, {"user_id": user_id, "key": key}).fetchone()
        assert row is not None  # the statement always yields the lock row
        return Claim(
            acquired=row["acquired"],
            fingerprint=None if row["fingerprint"] is None else bytes(row["fingerprint"]),
            status=row["status"],
            headers=row["headers"],
            body=None if row["body"] is None else bytes(row["body"]),
        )

    def save(
        self,
        conn: psycopg.Connection,
        user_id: str,
        key: str,
        fingerprint: bytes,
        status: int,
        headers: dict[str, str],
        body: bytes | None,
    ) -> bool:
        """Store the answer for (user_id, key); False when a live record was there first."""
        params = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "status": status,
            "headers": Jsonb(headers),
            "body": body,
        }
        return conn.execute(self._save, params).fetchone() is not None


@dataclass
class _Pending:
    stack: ExitStack
    conn: psycopg.Connection
    user_id: str
    key: str
    fingerprint: bytes


def fingerprint(req: falcon.Request) -> bytes:
    """Return the SHA-256 of what makes two requests the same: method, path, query and body.

    The query is sorted and the JSON body re-serialized with sorted keys, so formatting
    differences do not count. A body the resource takes no schema for (a DELETE's) is
    ignored, as the resource ignores it.
    """
    query = urlencode(sorted(parse_qsl(req.query_string, keep_blank_values=True)))
    body = b""
    if "body" in req.context:
        media = req.get_media(default_when_empty=None)
        if media is not None:
            body = orjson.dumps(media, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256()
    for part in (req.method.encode(), req.path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class IdempotencyKeys:
    """Falcon middleware giving POST, PUT, PATCH and DELETE under /api/ Idempotency-Key support.

    It must come after the middleware that validates the path and loads the body, so a
    request that fails validation never claims its key.
    """

    def __init__(self, pool: ConnectionPool, store: IdempotencyStore) -> None:
        self._pool = pool
        self._store = store

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        key = req.get_header(HEADER)
        user_id = params.get("user_id")
        if key is None or req.method not in METHODS or resource is None or user_id is None:
            return
        if not _VALID_KEY.fullmatch(key):
            raise RequestValidationError.single(
                "header", HEADER, "Must be 1-255 printable ASCII characters."
            )
        digest = fingerprint(req)

        stack = ExitStack()
        with stack:
            conn = stack.enter_context(self._pool.connection())
            stack.enter_context(conn.transaction())
            claim = self._store.claim(conn, user_id, key)
            if claim.acquired and claim.fingerprint is None:
                # A fresh key: keep the transaction open for the responder and process_response.
                stack.callback(unit_of_work.unbind, unit_of_work.bind(conn))
                req.context.idempotency = _Pending(stack.pop_all(), conn, user_id, key, digest)
                return
            # Anything else needs no transaction: leaving the block rolls it back and frees the
            # connection before answering.
            raise psycopg.Rollback()

        if not claim.acquired:
            raise KeyInProgress()
        if claim.fingerprint != digest:
            raise RequestValidationError.single(
                "header",
                HEADER,
                "This key was used in the last 24 hours for a different request "
                "(method, path or body).",
            )
        _replay(resp, claim)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        pending: _Pending | None = req.context.get("idempotency")
        if pending is None:
            return
        req.context.idempotency = None
        with pending.stack:
            status = resp.status_code
            if not (req_succeeded and 200 <= status < 300):
                # Not stored: the write (if any) is undone with the claim, so a retry runs again.
                raise psycopg.Rollback()
            body = resp.render_body()  # also settles Content-Type for a media body
            headers = {name: value for name in STORED_HEADERS if (value := resp.get_header(name))}
            saved = self._store.save(
                pending.conn,
                pending.user_id,
                pending.key,
                pending.fingerprint,
                status,
                headers,
                body,
            )
            if not saved:
                for name in STORED_HEADERS:
                    resp.delete_header(name)
                # Another request with the key committed between this one's claim and save.
                raise KeyInProgress()


def _replay(resp: falcon.Response, claim: Claim) -> None:
    resp.status = claim.status
    for name, value in (claim.headers or {}).items():
        resp.set_header(name, value)
    resp.data = claim.body
    resp.set_header(REPLAYED_HEADER, "true")
    resp.complete = True
