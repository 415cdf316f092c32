"""The outbox: events recorded in the transaction of the change they describe.

A webhook delivery is only as reliable as its event's record: written in the same
transaction as the change, a rolled-back change leaves no event, and a committed one
leaves one that the worker delivers even if the process that wrote it dies the next
instant. Nothing is written for a user without an enabled webhook subscribed to the type.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

import orjson
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries

# The scheme and host the current request reached the service by (set by the API's
# middleware): an event's task carries its absolute `url`, as GET returns it.
url_prefix: ContextVar[str] = ContextVar("tasks_url_prefix", default="")

# Characters of a user_id that may stand in a path unescaped ("|" is not one of them).
_PATH_SAFE = "~@:+._-"


def tasks_url(user_id: str) -> str:
    """Return the absolute URL of the user's task collection in the current request."""
    return f"{url_prefix.get()}/api/{quote(user_id, safe=_PATH_SAFE)}/tasks"


def _dumps(value: Any) -> str:
    # orjson: dates, UUIDs and datetimes as the API writes them.
    return orjson.dumps(value).decode()


def task_payload(user_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """Return a task row as the API answers it: with its url and its recurrence object."""
    data = {k: v for k, v in row.items() if k not in ("recurrence_rule", "recurrence_basis")}
    data["url"] = f"{tasks_url(user_id)}/{row['id']}"
    if "recurrence_rule" in row:
        rule = row["recurrence_rule"]
        data["recurrence"] = (
            None if rule is None else {"rule": rule, "basis": row["recurrence_basis"]}
        )
    return data


class Outbox:
    """Record events of a user (see the module docstring)."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._insert = queries["event_insert"]

    def emit(self, user_id: str, type: str, data: dict[str, Any]) -> str | None:
        """Record the event in the bound transaction (or alone); return its id, if written.

        Call it inside the transaction of the change (`unit_of_work.bind`), so that both
        commit or neither does.
        """
        params = {"user_id": user_id, "type": type, "data": Jsonb(data, dumps=_dumps)}
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._insert, params).fetchone()
        return None if row is None else row["event_id"]
