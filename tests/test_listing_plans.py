"""Query plans of the listing: each sort walks its own index from the cursor, with no Sort.

A seeded user with 20,000 tasks among 40,000 (table analyzed, planner settings untouched)
must be served by an index scan on the sort's index whose index condition holds the
keyset position, reading only the page's rows however deep the cursor is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from service.data.listing import STATEMENTS, Filters, Sort
from service.data.queries import Queries
from service.server import migrate

USER = "plan-user"
INDEXES = {
    "created_at": ("tasks_user_created_idx", "tasks_user_created_idx"),
    # The task stamps' index (migration 0014); each row's task is then one tasks_pkey probe.
    "updated_at": ("task_stamps_user_updated_idx", "task_stamps_user_updated_idx"),
    "due_at": ("tasks_user_due_asc_idx", "tasks_user_due_desc_idx"),
    "priority": ("tasks_user_priority_idx", "tasks_user_priority_idx"),
    "title": ("tasks_user_title_idx", "tasks_user_title_idx"),
    "order": ("tasks_user_order_asc_idx", "tasks_user_order_desc_idx"),
    "position": ("tasks_user_tree_idx", "tasks_user_tree_idx"),
}
QUERIES = Queries.load()
LIMIT = 50


@pytest.fixture(scope="module")
def seeded(scratch) -> Iterator[psycopg.Connection]:
    """A migrated scratch database: 20,000 tasks of USER among 40,000, analyzed."""
    url = scratch.create("tasks_plans")
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            """
            INSERT INTO tasks (user_id, title, description, completed, completed_at, priority,
                               due_at, tags, "order", created_at, updated_at)
            SELECT CASE WHEN g %% 2 = 0 THEN %(user)s ELSE 'other-' || (g %% 199) END,
                   md5(g::text), CASE WHEN g %% 5 = 0 THEN 'note ' || g END,
                   g %% 3 = 0, CASE WHEN g %% 3 = 0 THEN now() END,
                   (ARRAY['low', 'normal', 'high'])[1 + g %% 3]::task_priority,
                   CASE WHEN g %% 4 <> 0 THEN now() + (g %% 1000) * interval '1 hour' END,
                   CASE WHEN g %% 7 = 0 THEN ARRAY['work'] ELSE '{}' END,
                   CASE WHEN g %% 6 <> 0 THEN (g %% 500) - 250 END,
                   now() - g * interval '1 second', now() - (g %% 977) * interval '1 minute'
            FROM generate_series(1, 40000) AS g
            """,
            {"user": USER},
        )
        # Statistics from every row, not ANALYZE's random sample: with sampled ones a plan
        # near a cost tie (a filtered deep page) now and then tipped to another index.
        conn.execute("SET default_statistics_target = 1000")
        conn.execute("ANALYZE tasks")
        conn.execute("ANALYZE task_stamps")
        yield conn


def params(after: dict[str, Any] | None = None, **filters: Any) -> dict[str, Any]:
    return {
        **Filters(**filters).params(),
        "user_id": USER,
        "after_key": after["sort_key"] if after else None,
        "after_id": after["id"] if after else None,
        "limit": LIMIT + 1,
    }


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def sort_scans(plan: list[dict]) -> list[dict]:
    """The plan's index scans but the per-row lookups of a stamp's task by its id."""
    return [
        node
        for node in plan
        if node["Node Type"] in ("Index Scan", "Index Only Scan")
        and "s.task_id" not in node.get("Index Cond", "")
    ]


def explain(conn: psycopg.Connection, statement: str, values: dict[str, Any]) -> list[dict]:
    row = conn.execute(
        "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + QUERIES[statement], values
    ).fetchone()
    return list(nodes(row["QUERY PLAN"][0]["Plan"]))


def deep_position(conn: psycopg.Connection, statement: str) -> dict[str, Any]:
    """Return the sort key and id of the 15,000th task in the statement's order."""
    values = {**params(), "limit": 15000}
    return conn.execute(QUERIES[statement], values).fetchall()[-1]


@pytest.mark.parametrize(("key", "descending"), sorted(STATEMENTS))
def test_each_sort_pages_on_its_own_index_without_sorting(seeded, key, descending):
    statement = Sort(key, descending).statement
    expected_index = INDEXES[key][descending]
    for after in (None, deep_position(seeded, statement)):
        plan = explain(seeded, statement, params(after))
        kinds = [node["Node Type"] for node in plan]
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
        scans = sort_scans(plan)
        assert [scan["Index Name"] for scan in scans] == [expected_index], kinds
        assert scans[0]["Scan Direction"] == ("Backward" if descending else "Forward")
        # The page reads only its own rows: the cursor is a bound of the index range.
        assert scans[0]["Actual Rows"] == LIMIT + 1
        if after is not None:
            assert "ROW(" in scans[0]["Index Cond"], scans[0]["Index Cond"]


def explain_prepared(
    conn: psycopg.Connection, statement: str, values: dict[str, Any]
) -> list[dict]:
    """EXPLAIN the plan a prepared statement settles on after the service's first uses.

    The server plans the first five executions with their values, then may switch to one
    generic plan for all values if it does not look costlier (plan_cache_mode = auto).
    """
    text = QUERIES[statement]
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", text)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", text)
    execute = sql.SQL("EXECUTE page({})").format(
        sql.SQL(", ").join(sql.Literal(values[name]) for name in names)
    )
    conn.execute(sql.SQL("PREPARE page AS {}").format(sql.SQL(numbered)))
    try:
        for _ in range(6):
            conn.execute(execute).fetchall()
        explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {}").format(execute)
        row = conn.execute(explain).fetchone()
    finally:
        conn.execute("DEALLOCATE page")
    return list(nodes(row["QUERY PLAN"][0]["Plan"]))


@pytest.mark.parametrize("user", [USER, "other-7"])
@pytest.mark.parametrize(("key", "descending"), sorted(STATEMENTS))
def test_the_prepared_first_page_walks_the_sort_index(seeded, key, descending, user):
    # The unfiltered first page runs prepared (service/data/listing.py): whichever plan the
    # server settles on, for a user with 20,000 tasks or one with 100, reads only the page.
    plan = explain_prepared(seeded, Sort(key, descending).statement, {**params(), "user_id": user})
    kinds = [node["Node Type"] for node in plan]
    assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
    scans = sort_scans(plan)
    assert [scan["Index Name"] for scan in scans] == [INDEXES[key][descending]], kinds
    assert scans[0]["Actual Rows"] == LIMIT + 1


@pytest.mark.parametrize(("key", "descending"), sorted(STATEMENTS))
def test_filtered_pages_still_walk_the_sort_index(seeded, key, descending):
    statement = Sort(key, descending).statement
    after = deep_position(seeded, statement)
    plan = explain(seeded, statement, params(after, completed=False, priority="high"))
    kinds = [node["Node Type"] for node in plan]
    assert "Sort" not in kinds, kinds
    assert [n["Index Name"] for n in sort_scans(plan)] == [INDEXES[key][descending]], kinds


def test_selective_search_uses_the_trigram_index_where_there_is_one(seeded):
    has_index = seeded.execute(
        "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'tasks_search_trgm_idx'"
    ).fetchone()["n"]
    if not has_index:
        pytest.skip("pg_trgm is not available on this server: search runs without its index")
    values = params(terms=("note 1234",))
    plan = explain(seeded, Sort("created_at", False).statement, values)
    assert "tasks_search_trgm_idx" in [n.get("Index Name") for n in plan]


@pytest.mark.parametrize(("key", "descending"), sorted(STATEMENTS))
def test_search_finds_the_same_tasks_with_or_without_an_index(seeded, key, descending):
    statement = Sort(key, descending).statement
    rows = seeded.execute(QUERIES[statement], {**params(terms=("note", "12")), "limit": 40000})
    found = [r["id"] for r in rows.fetchall()]
    expected = {
        r["id"]
        for r in seeded.execute(
            "SELECT id::text AS id FROM tasks WHERE user_id = %s "
            "AND strpos(lower(title || ' ' || coalesce(description, '')), 'note') > 0 "
            "AND strpos(lower(title || ' ' || coalesce(description, '')), '12') > 0",
            (USER,),
        )
    }
    assert len(found) == len(set(found)) and set(found) == expected and len(found) > 10


NIL = uuid.UUID(int=0)


@pytest.mark.parametrize("descending", [False, True])
def test_a_sibling_group_in_position_order_is_one_range_of_the_tree_index(seeded, descending):
    # list_id=inbox&parent_id=none&sort=position: the app's "open this list" page.
    statement = Sort("position", descending).statement
    after = seeded.execute(
        QUERIES[statement], {**params(list_key=NIL, parent_key=NIL), "limit": 15000}
    ).fetchall()[-1]
    for position in (None, after):
        plan = explain(seeded, statement, params(position, list_key=NIL, parent_key=NIL))
        kinds = [node["Node Type"] for node in plan]
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
        scans = [node for node in plan if node["Node Type"] == "Index Scan"]
        assert [scan["Index Name"] for scan in scans] == ["tasks_user_tree_idx"]
        assert "parent_id" in scans[0]["Index Cond"] and "list_id" in scans[0]["Index Cond"]
        assert scans[0]["Actual Rows"] == LIMIT + 1


@pytest.mark.parametrize("descending", [False, True])
def test_a_parent_filter_alone_reads_only_that_parents_children(seeded, descending):
    statement = Sort("position", descending).statement
    with seeded.transaction():
        parent = seeded.execute(
            "INSERT INTO tasks (user_id, title) VALUES (%s, 'parent') RETURNING id", (USER,)
        ).fetchone()["id"]
        seeded.execute(
            "INSERT INTO tasks (user_id, title, parent_id) "
            "SELECT %s, 'child ' || g, %s FROM generate_series(1, 300) AS g",
            (USER, parent),
        )
        plan = explain(seeded, statement, params(parent_key=parent))
        kinds = [node["Node Type"] for node in plan]
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
        scans = [
            n
            for n in plan
            if n["Node Type"] == "Index Scan" and n["Index Name"] == "tasks_user_tree_idx"
        ]
        page = [s for s in scans if s["Actual Rows"] == LIMIT + 1]
        assert page and "parent_id" in page[0]["Index Cond"], scans
        raise psycopg.Rollback()


@pytest.mark.parametrize(("key", "descending"), sorted(STATEMENTS))
def test_list_and_parent_filters_never_sort_the_users_whole_set(seeded, key, descending):
    statement = Sort(key, descending).statement
    plan = explain(seeded, statement, params(list_key=NIL, parent_key=NIL))
    for node in plan:
        if node["Node Type"] in {"Sort", "Incremental Sort"}:
            # Only what the filter leaves may be sorted, never the user's 20,000 tasks.
            assert node["Actual Rows"] < 20000, node
