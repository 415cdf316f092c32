"""How a task row becomes a response: its URL, its ETag and its JSON body."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote_to_bytes

import falcon
from marshmallow import Schema, ValidationError

from service.api.errors import RequestValidationError
from service.data.tasks import Row

# Characters of a user_id that may stand in a path unescaped ("|" is not one of them).
_PATH_SAFE = "~@:+._-"

# What each query schema loads an empty query string to (see load_query).
_EMPTY_QUERY_LOADS: dict[Schema, dict[str, Any]] = {}


def tasks_url(req: falcon.Request, user_id: str) -> str:
    """Return the absolute URL of the user's task collection, as the client reached us."""
    prefix = req.context.get("url_prefix") or req.prefix
    return f"{prefix}/api/{quote(user_id, safe=_PATH_SAFE)}/tasks"


def lists_url(req: falcon.Request, user_id: str) -> str:
    """Return the absolute URL of the user's list collection, as the client reached us."""
    prefix = req.context.get("url_prefix") or req.prefix
    return f"{prefix}/api/{quote(user_id, safe=_PATH_SAFE)}/lists"


def present(row: Row, collection_url: str) -> dict[str, Any]:
    """Return the task's JSON body: the row plus its absolute URL and its recurrence object."""
    row["url"] = f"{collection_url}/{row['id']}"
    if "recurrence_rule" in row:
        rule, basis = row.pop("recurrence_rule"), row.pop("recurrence_basis")
        row["recurrence"] = None if rule is None else {"rule": rule, "basis": basis}
    return row


def etag(row: Row) -> str:
    """Return the task's strong entity tag: its version, which moves on every change."""
    return f'"{row["version"]}"'


def send_task(
    req: falcon.Request, resp: falcon.Response, row: Row, status: str = falcon.HTTP_200
) -> None:
    """Answer with one task: body, ETag and status."""
    resp.status = status
    resp.media = present(row, tasks_url(req, row["user_id"]))
    resp.set_header("ETag", etag(row))


def _require_utf8_query(query_string: str) -> None:
    # Falcon decodes invalid UTF-8 (an encoded surrogate, a stray byte) to U+FFFD; the
    # contract wants a 422 instead of a silently altered value.
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        try:
            unquote_to_bytes(name.replace("+", " ")).decode("utf-8")
            unquote_to_bytes(value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            field = unquote_to_bytes(name).decode("utf-8", "replace")[:64]
            raise RequestValidationError.single(
                "query", field, "Must be valid UTF-8 text."
            ) from None


def load_query(req: falcon.Request, schema: Schema) -> dict[str, Any]:
    """Validate the query string with `schema`; a bad parameter is a 422 naming it."""
    if not req.query_string:
        # No parameters load to the schema's defaults, the same every time: load them once
        # (a plain listing, the commonest, then skips ~18 us of marshmallow). A copy each
        # time, so that a caller may change its dict.
        defaults = _EMPTY_QUERY_LOADS.get(schema)
        if defaults is None:
            defaults = _EMPTY_QUERY_LOADS[schema] = schema.load({})
        return dict(defaults)
    _require_utf8_query(req.query_string)
    try:
        return schema.load(req.params)
    except ValidationError as error:
        raise RequestValidationError.from_marshmallow(error, "query") from None
