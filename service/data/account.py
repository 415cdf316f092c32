"""A user's whole account: read it all from one snapshot (export), or erase it at once.

The export reads in one REPEATABLE READ, READ ONLY transaction on one pooled connection,
the big tables through server-side cursors a page at a time, so the document is consistent
and never held in memory whole. The erase deletes every row of the user, table by table
(children first), in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries

Row = dict[str, Any]

# Rows fetched per round trip from a server-side cursor.
PAGE_ROWS = 500

# What an erase deletes, in order (rows that reference others first): the statement, and the
# name its count has in the answer.
ERASE_STATEMENTS = (
    ("user_erase_webhook_delivery_attempts", "delivery_attempts"),
    ("user_erase_webhook_deliveries", "deliveries"),
    ("user_erase_events", "events"),
    ("user_erase_webhooks", "webhooks"),
    ("user_erase_task_completions", "completions"),
    ("user_erase_reminders", "reminders"),
    ("user_erase_tasks", "tasks"),
    ("user_erase_lists", "lists"),
    ("user_erase_user_settings", "settings"),
    ("user_erase_idempotency_keys", "idempotency_keys"),
)


class Snapshot:
    """Reads of one user's data, all from the snapshot of one open transaction."""

    def __init__(self, conn: psycopg.Connection, queries: Queries, user_id: str) -> None:
        self._conn = conn
        self._queries = queries
        self._params = {"user_id": user_id}

    def one(self, name: str) -> Row | None:
        """Return the one row statement `name` yields for the user, or None."""
        return self._conn.execute(self._queries[name], self._params).fetchone()

    def rows(self, name: str) -> Iterator[Row]:
        """Yield the rows of statement `name` for the user, fetched a page at a time."""
        with self._conn.cursor(name=f"export_{name}") as cursor:
            cursor.itersize = PAGE_ROWS
            cursor.execute(self._queries[name], self._params)
            yield from cursor


class AccountStore:
    """Export and erase everything one user has."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._queries = queries
        self._snapshot = queries["session_snapshot"]
        self._erase = [(queries[statement], name) for statement, name in ERASE_STATEMENTS]
        for name in ("export_lists", "export_tasks", "export_completions", "export_reminders"):
            queries[name]  # resolved now, so a missing file fails at start-up

    @contextmanager
    def snapshot(self, user_id: str) -> Iterator[Snapshot]:
        """Hold one pooled connection in a REPEATABLE READ, READ ONLY transaction for the block."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(self._snapshot)
            yield Snapshot(conn, self._queries, user_id)

    def erase(self, user_id: str) -> dict[str, int]:
        """Delete every row of the user in one transaction; return how many went, per kind."""
        params = {"user_id": user_id}
        counts: dict[str, int] = {}
        with unit_of_work.transaction(self._pool) as conn:
            for statement, name in self._erase:
                counts[name] = conn.execute(statement, params).rowcount
        return counts
