"""JSON in and out through orjson, plugged into Falcon's media handlers."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

import falcon
import orjson
from falcon.media import JSONHandler

MERGE_PATCH_JSON = "application/merge-patch+json"


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        # RFC 3339 in UTC, always with microseconds and a Z, e.g. 2026-01-24T10:00:00.123456Z.
        text = value.isoformat(timespec="microseconds")
        if text.endswith("+00:00"):
            # Already UTC: a third cheaper. (Task rows no longer get here: their statements
            # format timestamps in SQL, see sql/task_get.sql; this covers any other body.)
            return text[:-6] + "Z"
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if isinstance(value, date):
        # An all-day date (due_date): YYYY-MM-DD.
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialize to JSON bytes; UUIDs as strings, datetimes as UTC timestamps with Z."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


class BoundedJSONHandler(JSONHandler):
    """Falcon's JSON handler on orjson that refuses bodies over `max_bytes` with a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(dumps=dumps, loads=orjson.loads)
        self._max_bytes = max_bytes
        # Falcon enables its fast path only for the exact JSONHandler class; ours is safe too.
        self._serialize_sync = self.serialize

    def deserialize(
        self, stream: BinaryIO, content_type: str | None, content_length: int | None
    ) -> Any:
        if content_length is not None and content_length > self._max_bytes:
            raise too_large(self._max_bytes)
        data = stream.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise too_large(self._max_bytes)
        return self._deserialize(data)


def too_large(limit: int) -> falcon.HTTPContentTooLarge:
    """Return the 413 for a body over `limit` bytes."""
    return falcon.HTTPContentTooLarge(description=f"The body is larger than {limit} bytes.")


class MediaHandlers(falcon.media.Handlers):
    """Falcon's handler registry, matching media types case-insensitively (RFC 9110 8.3.1).

    Falcon looks the Content-Type up as sent, so `APPLICATION/JSON` was a 415. The type and
    subtype are lower-cased before the lookup (parameters are left alone); the result is
    cached per header value as Falcon's own lookup is, so a request pays nothing more.
    """

    def _create_resolver(self):  # type: ignore[no-untyped-def]
        resolve = super()._create_resolver()

        @functools.lru_cache(maxsize=64)
        def resolve_folded(media_type: str | None, default: str, raise_not_found: bool = True):  # type: ignore[no-untyped-def]
            if media_type:
                kind, sep, parameters = media_type.partition(";")
                media_type = kind.strip().lower() + sep + parameters
            return resolve(media_type, default, raise_not_found)

        clear_folded = resolve_folded.cache_clear

        def cache_clear() -> None:
            clear_folded()
            resolve.cache_clear()  # type: ignore[attr-defined]

        resolve_folded.cache_clear = cache_clear  # type: ignore[method-assign]
        return resolve_folded


def media_handlers(max_bytes: int) -> dict[str, JSONHandler]:
    """Return the handlers for the request and response media types the API speaks."""
    handler = BoundedJSONHandler(max_bytes)
    return {falcon.MEDIA_JSON: handler, MERGE_PATCH_JSON: handler}
