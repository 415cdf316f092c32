"""Property-based: walking every page of any filter / sort / limit yields each match once, in order.

Also while tasks are inserted and deleted between pages: every task present throughout is
served exactly once, nothing is served twice, and the walk never goes backwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.schemas import PRIORITIES, SORTS
from tests.listing_model import expected_order, ids, sort_value, walk

STAMPS = [datetime(2026, 1, day, hour, tzinfo=UTC) for day in (1, 2) for hour in (0, 12)]
DUES = [datetime(2026, 3, day, tzinfo=UTC) for day in (1, 2, 3)]
BOUNDS = [datetime(2026, 3, 1, 12, tzinfo=UTC), *DUES]
TAGS = ["a", "b", "c"]

tasks_strategy = st.lists(
    st.fixed_dictionaries(
        {
            # ASCII only, so Python's and the server's lower case agree; % and _ test escaping.
            "title": st.text(alphabet="abAB x%_", min_size=1, max_size=5),
            "description": st.none() | st.text(alphabet="abBy _", max_size=5),
            "completed": st.booleans(),
            "priority": st.sampled_from(PRIORITIES),
            "due_at": st.none() | st.sampled_from(DUES),
            "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3).map(sorted),
            "order": st.none() | st.sampled_from([-(2**31), -1, 0, 1, 2**31 - 1]),
            "created_at": st.sampled_from(STAMPS),
            "updated_at": st.sampled_from(STAMPS),
        }
    ),
    max_size=25,
)

query_strategy = st.fixed_dictionaries(
    {"sort": st.sampled_from(SORTS), "limit": st.integers(1, 7).map(str)},
    optional={
        "status": st.sampled_from(["all", "pending", "completed"]),
        "priority": st.sampled_from(PRIORITIES),
        "tag": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        "q": st.lists(
            st.sampled_from(["a", "B", "ab", "%", "_", "x a"]), min_size=1, max_size=2
        ).map(" ".join),
        "due_before": st.sampled_from(BOUNDS).map(datetime.isoformat),
        "due_after": st.sampled_from(BOUNDS).map(datetime.isoformat),
    },
)

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """Return a direct connection shared by the module's examples."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def insert(conn: psycopg.Connection, user_id: str, tasks: list[dict]) -> None:
    """Insert tasks directly, with the timestamps the example chose."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO tasks (user_id, title, description, completed, completed_at,
                                  priority, due_at, tags, "order", created_at, updated_at)
               VALUES (%(user_id)s, %(title)s, %(description)s, %(completed)s,
                       CASE WHEN %(completed)s THEN %(updated_at)s END,
                       %(priority)s, %(due_at)s, %(tags)s, %(order)s,
                       %(created_at)s, %(updated_at)s)""",
            [{**task, "user_id": user_id} for task in tasks],
        )


def matches(task: dict, query: dict) -> bool:
    """Return whether a task (as the API shows it) passes the query's filters."""
    status = query.get("status", "all")
    if status != "all" and task["completed"] != (status == "completed"):
        return False
    if "priority" in query and task["priority"] != query["priority"]:
        return False
    if not set(query.get("tag", [])) <= set(task["tags"]):
        return False
    text = f"{task['title']} {task['description'] or ''}".lower()
    if not all(term.lower() in text for term in query.get("q", "").split()):
        return False
    due = datetime.fromisoformat(task["due_at"]) if task["due_at"] else None
    if "due_before" in query and not (due and due < datetime.fromisoformat(query["due_before"])):
        return False
    return not (
        "due_after" in query and not (due and due >= datetime.fromisoformat(query["due_after"]))
    )


def all_tasks(app, base: str) -> list[dict]:
    return app.get(base, {"limit": "500"}).json


def order_key(task: dict, sort: str):
    """Return a key whose ascending order is the listing's order for `sort`."""
    key, descending = sort.lstrip("-"), sort.startswith("-")
    value = sort_value(task, key)
    task_id = UUID(task["id"]).int
    if value is None:
        return (1, 0, -task_id if descending else task_id)
    if isinstance(value, datetime):
        value = value.timestamp()
    elif isinstance(value, str):
        value = [ord(c) for c in value]
        if descending:
            # Reverse code point order with a terminator so a prefix sorts after its extensions.
            return (0, [-c for c in value] + [1], -task_id)
        return (0, value, task_id)
    return (0, -value if descending else value, -task_id if descending else task_id)


@PROPERTY_SETTINGS
@given(tasks=tasks_strategy, query=query_strategy)
def test_walking_the_pages_yields_each_match_once_in_order(app, conn, tasks, query):
    user_id = f"prop-{uuid.uuid4().hex[:12]}"
    base = f"/api/{user_id}/tasks"
    insert(conn, user_id, tasks)
    everything = all_tasks(app, base)
    expected = expected_order([t for t in everything if matches(t, query)], query["sort"])
    pages = walk(app, base, query)
    limit = int(query["limit"])
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages[-1]) <= limit and (len(pages) == 1 or pages[-1])
    assert ids([t for page in pages for t in page]) == ids(expected)


@PROPERTY_SETTINGS
@given(
    tasks=tasks_strategy,
    query=query_strategy,
    changes=st.lists(
        st.tuples(st.lists(st.integers(0, 40), max_size=3), tasks_strategy.map(lambda t: t[:3])),
        max_size=6,
    ),
)
def test_changes_between_pages_never_skip_or_repeat(app, conn, tasks, query, changes):
    user_id = f"prop-{uuid.uuid4().hex[:12]}"
    base = f"/api/{user_id}/tasks"
    insert(conn, user_id, tasks)
    initial = {t["id"]: t for t in all_tasks(app, base)}
    deleted: set[str] = set()

    def mutate(page_number: int) -> None:
        if page_number > len(changes):
            return
        victims, additions = changes[page_number - 1]
        current = sorted(t["id"] for t in all_tasks(app, base))
        for index in victims:
            if current:
                victim = current[index % len(current)]
                conn.execute("DELETE FROM tasks WHERE user_id = %s AND id = %s", (user_id, victim))
                deleted.add(victim)
        insert(conn, user_id, additions)

    walked = [t for page in walk(app, base, query, between=mutate) for t in page]
    walked_ids = ids(walked)
    assert len(walked_ids) == len(set(walked_ids)), "a task was served twice"
    assert all(matches(t, query) for t in walked)
    keys = [order_key(t, query["sort"]) for t in walked]
    assert keys == sorted(keys), "the walk went backwards"
    throughout = [t for i, t in initial.items() if i not in deleted and matches(t, query)]
    served = set(walked_ids)
    assert [t["id"] for t in throughout if t["id"] not in served] == []
    stable_order = [i for i in walked_ids if i in {t["id"] for t in throughout}]
    assert stable_order == ids(expected_order(throughout, query["sort"]))
