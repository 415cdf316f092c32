"""Listing requests at the edge: the query's filters and the signed, opaque keyset cursor.

A cursor is `base64url(payload) "." base64url(HMAC-SHA256(key, user_id NUL payload))`; the
payload records the sort and a fingerprint of the filters it was made for, and the sort key
and id of the last task served. A cursor that was edited, forged, made for another user, or
used with another sort or other filters is rejected with a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

import orjson

from service.api.errors import RequestValidationError
from service.api.schemas import INT32_MAX, INT32_MIN, PRIORITIES, search_terms
from service.core.config import Config
from service.data.listing import NULLABLE_KEYS, Filters, PageRequest, Position, Sort

logger = logging.getLogger("service.api.listing")

CURSOR_VERSION = 1
CURSOR_MAX_LENGTH = 4096
# A title key is the lower-cased title: at most 200 characters, a few more after lower().
TITLE_KEY_MAX_LENGTH = 800

STATUS_COMPLETED: Mapping[str, bool | None] = {"all": None, "pending": False, "completed": True}


def filters_from_query(query: Mapping[str, Any]) -> Filters:
    """Build the filters from a validated listing (or bulk) query."""
    return Filters(
        completed=STATUS_COMPLETED[query.get("status", "all")],
        priority=query.get("priority"),
        tags=tuple(sorted(set(query.get("tag", ())))),
        terms=search_terms(query.get("q", "")),
        due_before=query.get("due_before"),
        due_after=query.get("due_after"),
        list_key=query.get("list_id"),
        parent_key=query.get("parent_id"),
    )


class InvalidCursor(ValueError):
    """The cursor is malformed, forged, or belongs to another listing."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise InvalidCursor("Not a cursor of this service.")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCursor("Not a cursor of this service.") from None
    # Only the canonical spelling: any edited character is an invalid cursor.
    if _b64encode(data) != text:
        raise InvalidCursor("Not a cursor of this service.")
    return data


def _encode_key(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _storable(text: str) -> bool:
    # What PostgreSQL text can hold, at a title's length: a key the database would refuse
    # (a NUL, an unpaired surrogate) must be a 422 here, never a 500 from the query.
    if len(text) > TITLE_KEY_MAX_LENGTH or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode_key(sort: Sort, value: Any) -> Any:
    """Check a key value's type for the sort; the MAC already vouches for its origin."""
    if value is None:
        if sort.key in NULLABLE_KEYS:
            return None
    elif sort.key in {"created_at", "updated_at", "due_at"} and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return moment
    elif sort.key == "priority" and value in PRIORITIES:
        return value
    elif sort.key == "title" and isinstance(value, str) and _storable(value):
        return value
    elif (
        sort.key == "position"
        and isinstance(value, list)
        and len(value) == 3
        and all(isinstance(part, str) for part in value)
    ):
        try:
            UUID(value[0]), UUID(value[1])
        except ValueError:
            pass
        else:
            return value
    elif (
        sort.key == "order"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and INT32_MIN <= value <= INT32_MAX
    ):
        return value
    raise InvalidCursor("Not a cursor of this service.")


class CursorCodec:
    """Make and check the signed cursors of the listing."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        # A callable is asked once, on first use: the stored key needs the database.
        self._key = key if isinstance(key, bytes) else None
        self._load_key = None if isinstance(key, bytes) else key

    @classmethod
    def from_config(cls, config: Config, stored_key: Callable[[], bytes]) -> CursorCodec:
        """Use CURSOR_SECRET, or else the random key kept in the database (`stored_key`).

        The stored key is created once by whichever process asks first, so every worker and
        instance signs with the same key and no setting reveals it.
        """
        if config.cursor_secret:
            secret = config.cursor_secret.encode("utf-8")
            return cls(hmac.new(b"tasks-cursor-key", secret, hashlib.sha256).digest())
        return cls(stored_key)

    @property
    def key(self) -> bytes:
        """Return the signing key, reading the stored one on first use."""
        if self._key is None:
            assert self._load_key is not None
            self._key = self._load_key()
        return self._key

    def _mac(self, user_id: str, payload: bytes) -> bytes:
        return hmac.new(self.key, user_id.encode("utf-8") + b"\0" + payload, "sha256").digest()

    def encode(self, user_id: str, request: PageRequest, position: Position) -> str:
        """Return the cursor that continues `request` after `position`, for this user only."""
        payload = orjson.dumps(
            {
                "v": CURSOR_VERSION,
                "s": str(request.sort),
                "f": request.filters.fingerprint(),
                "k": _encode_key(position.key),
                "i": str(position.id),
            }
        )
        return f"{_b64encode(payload)}.{_b64encode(self._mac(user_id, payload))}"

    def sign(self, user_id: str, purpose: str, data: Mapping[str, Any]) -> str:
        """Return a cursor of another listing (`purpose`: "trash", "changes") for this user."""
        payload = orjson.dumps({"v": CURSOR_VERSION, "p": purpose, **data})
        return f"{_b64encode(payload)}.{_b64encode(self._mac(user_id, payload))}"

    def verify(self, user_id: str, purpose: str, token: str) -> dict[str, Any]:
        """Return what `sign` recorded; raise InvalidCursor unless it is this user's, intact."""
        if len(token) > CURSOR_MAX_LENGTH or token.count(".") != 1:
            raise InvalidCursor("Not a cursor of this service.")
        encoded_payload, encoded_mac = token.split(".")
        payload = _b64decode(encoded_payload)
        if not hmac.compare_digest(_b64decode(encoded_mac), self._mac(user_id, payload)):
            raise InvalidCursor("Not a cursor of this service, or not for this user.")
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise InvalidCursor("Not a cursor of this service.") from None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise InvalidCursor("Not a cursor of this service.")
        if data.get("p") != purpose:
            raise InvalidCursor("The cursor was made for another listing.")
        return data

    def decode(self, user_id: str, token: str, sort: Sort, filters: Filters) -> Position:
        """Return the position a cursor records; raise InvalidCursor unless it fits exactly."""
        if len(token) > CURSOR_MAX_LENGTH or token.count(".") != 1:
            raise InvalidCursor("Not a cursor of this service.")
        encoded_payload, encoded_mac = token.split(".")
        payload = _b64decode(encoded_payload)
        if not hmac.compare_digest(_b64decode(encoded_mac), self._mac(user_id, payload)):
            raise InvalidCursor("Not a cursor of this service, or not for this user.")
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise InvalidCursor("Not a cursor of this service.") from None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise InvalidCursor("Not a cursor of this service.")
        if data.get("s") != str(sort):
            raise InvalidCursor("The cursor was made for another sort order.")
        if data.get("f") != filters.fingerprint():
            raise InvalidCursor("The cursor was made for other filters.")
        try:
            task_id = UUID(data.get("i"))
        except (TypeError, ValueError, AttributeError):
            raise InvalidCursor("Not a cursor of this service.") from None
        return Position(key=_decode_key(sort, data.get("k")), id=task_id)


def page_request(user_id: str, query: Mapping[str, Any], cursors: CursorCodec) -> PageRequest:
    """Turn a validated listing query into a PageRequest; a bad cursor is a 422 naming it."""
    sort = Sort.parse(query["sort"])
    filters = filters_from_query(query)
    after = None
    token = query.get("cursor")
    if token is not None:
        try:
            after = cursors.decode(user_id, token, sort, filters)
        except InvalidCursor as error:
            raise RequestValidationError.single("query", "cursor", str(error)) from None
    return PageRequest(sort=sort, filters=filters, limit=query["limit"], after=after)


def next_page_url(collection_url: str, params: Mapping[str, str | list[str]], cursor: str) -> str:
    """Return the absolute URL of the next page: the same query with the new cursor."""
    query = {name: value for name, value in params.items() if name != "cursor"}
    query["cursor"] = cursor
    return f"{collection_url}?{urlencode(query, doseq=True, quote_via=quote)}"
