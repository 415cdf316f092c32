"""The listing DAO: pages of a user's tasks, bulk changes by status, and counts.

Every statement is scoped to a user_id. A listing statement runs unprepared when the page is
filtered or starts at a cursor: its optional filters are `(%(x)s IS NULL OR ...)` predicates,
and only a plan made with the actual values drops the unused ones and turns the cursor into a
range on the index. The first page with no filter (an app opening its list) is the one asked
for most, and it needs neither: it runs prepared, so the server parses and plans it once per
connection instead of on every request (bench/RESULTS.md: about 100 us less database time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.outbox import tasks_url
from service.data.queries import Queries

Row = dict[str, Any]

# The statement of each (sort key, descending); chosen only by a validated sort value.
STATEMENTS: Mapping[tuple[str, bool], str] = {
    ("created_at", False): "task_list_created_at_asc",
    ("created_at", True): "task_list_created_at_desc",
    ("updated_at", False): "task_list_updated_at_asc",
    ("updated_at", True): "task_list_updated_at_desc",
    ("due_at", False): "task_list_due_at_asc",
    ("due_at", True): "task_list_due_at_desc",
    ("priority", False): "task_list_priority_asc",
    ("priority", True): "task_list_priority_desc",
    ("title", False): "task_list_title_asc",
    ("title", True): "task_list_title_desc",
    ("order", False): "task_list_order_asc",
    ("order", True): "task_list_order_desc",
    ("position", False): "task_list_position_asc",
    ("position", True): "task_list_position_desc",
}
NULLABLE_KEYS = frozenset({"due_at", "order"})
# The nil UUID stands for "none" in the list and parent keys: the inbox, the top level.
NIL = UUID(int=0)


@dataclass(frozen=True)
class Sort:
    """A validated sort order: the key and the direction."""

    key: str
    descending: bool

    @classmethod
    def parse(cls, value: str) -> Sort:
        """Read a validated `sort` parameter such as `-due_at`."""
        return cls(key=value.lstrip("-"), descending=value.startswith("-"))

    @property
    def statement(self) -> str:
        """Return the name of the SQL statement that pages in this order."""
        return STATEMENTS[(self.key, self.descending)]

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True)
class Filters:
    """Which tasks a listing shows; None (or empty) means no such filter."""

    completed: bool | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    due_before: datetime | None = None
    due_after: datetime | None = None
    # list_id=<id>|inbox and parent_id=<id>|none: NIL for inbox / none.
    list_key: UUID | None = None
    parent_key: UUID | None = None

    def fingerprint(self) -> str:
        """Return a short digest that changes whenever any filter does."""
        canonical = orjson.dumps(
            [
                self.completed,
                self.priority,
                sorted(self.tags),
                list(self.terms),
                self.due_before.isoformat() if self.due_before else None,
                self.due_after.isoformat() if self.due_after else None,
                str(self.list_key) if self.list_key else None,
                str(self.parent_key) if self.parent_key else None,
            ]
        )
        return hashlib.sha256(canonical).hexdigest()[:32]

    def params(self) -> dict[str, Any]:
        """Return the statement parameters of the filters."""
        patterns = sorted((like_pattern(term) for term in self.terms), key=len, reverse=True)
        return {
            "completed": self.completed,
            "priority": self.priority,
            "tags": list(self.tags) or None,
            "due_before": self.due_before,
            "due_after": self.due_after,
            "list_key": self.list_key,
            "parent_key": self.parent_key,
            # The longest term is likely the most selective: it is the one clause a trigram
            # index can serve; the others filter what it finds.
            "q_lead": patterns[0] if patterns else None,
            "q_rest": patterns[1:],
        }


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last task's sort key value and id."""

    key: Any
    id: UUID


@dataclass(frozen=True)
class PageRequest:
    """A validated listing request: order, filters, page size and where to start."""

    sort: Sort
    filters: Filters
    limit: int
    after: Position | None = None


def like_pattern(term: str) -> str:
    """Return a LIKE pattern matching `term` anywhere, its wildcards escaped."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class Page:
    """One page of tasks, and where the next one starts (None when nothing more matches)."""

    rows: list[Row]
    next: Position | None


class ListingStore:
    """Query and change a user's tasks as a set; never another user's."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        # Resolve every statement now, so a missing SQL file fails at start-up.
        self._pages = {name: queries[name] for name in STATEMENTS.values()}
        self._set_completed_matching = queries["task_set_completed_matching"]
        self._stats = queries["task_stats"]
        self._reminders = queries["reminder_tasks_list"]

    def page(self, user_id: str, request: PageRequest) -> Page:
        """Return up to `request.limit` matching tasks after `request.after`, in its order."""
        params = {
            **request.filters.params(),
            "user_id": user_id,
            "after_key": request.after.key if request.after else None,
            "after_id": request.after.id if request.after else None,
            # One more than asked tells whether another page exists, without counting.
            "limit": request.limit + 1,
        }
        with unit_of_work.connection(self._pool) as conn:
            rows = conn.execute(
                self._pages[request.sort.statement], params, prepare=_prepare(request)
            ).fetchall()
            more = len(rows) > request.limit
            rows = rows[: request.limit]
            self._attach_reminders(conn, user_id, rows)
        keys = [row.pop("sort_key") for row in rows]
        following = Position(key=keys[-1], id=UUID(rows[-1]["id"])) if more else None
        return Page(rows=rows, next=following)

    def _attach_reminders(self, conn: psycopg.Connection, user_id: str, rows: list[Row]) -> None:
        # Each task's `reminders` (none: []), read in one statement for the page's tasks
        # that have any (by their reminder_count): none, most often, and then no statement.
        by_id = {}
        for row in rows:
            row["reminders"] = []
            if row.pop("reminder_count"):
                by_id[row["id"]] = row
        if not by_id:
            return
        params = {"user_id": user_id, "task_ids": list(by_id)}
        for found in conn.execute(self._reminders, params):
            by_id[found["task_id"]]["reminders"] = found["reminders"]

    def set_completed_matching(self, user_id: str, filters: Filters, completed: bool) -> int:
        """Set the completed flag of the matching tasks; return how many changed."""
        params = {
            "user_id": user_id,
            "completed": filters.completed,
            "set_completed": completed,
            "tasks_url": tasks_url(user_id),
        }
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._set_completed_matching, params).fetchone()
        assert row is not None  # an aggregate without GROUP BY always yields one row
        return row["changed"]

    def stats(self, user_id: str) -> Row:
        """Return the user's task counts: total, completed, pending and overdue."""
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._stats, {"user_id": user_id}).fetchone()
        assert row is not None  # an aggregate without GROUP BY always yields one row
        return row


NO_FILTERS = Filters()


def _prepare(request: PageRequest) -> bool | None:
    """Return psycopg's `prepare` for a page: automatic for a plain first page, else never.

    Automatic (None) follows the pool's `prepare_threshold`, so nothing is prepared behind a
    transaction-pooling proxy that cannot keep prepared statements (PG_PREPARE_THRESHOLD).
    """
    plain_first_page = request.after is None and request.filters == NO_FILTERS
    return None if plain_first_page else False
