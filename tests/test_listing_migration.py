"""Migration 0002: the listing indexes, and the trigram index only where pg_trgm exists."""

from __future__ import annotations

import psycopg

from service.server import migrate

# tasks_user_updated_idx, also 0002's, moved to task_stamps in 0014 (see the test below).
LISTING_INDEXES = {
    "tasks_user_due_asc_idx",
    "tasks_user_due_desc_idx",
    "tasks_user_priority_idx",
    "tasks_user_title_idx",
    "tasks_user_order_asc_idx",
    "tasks_user_order_desc_idx",
}


def indexes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")
        return {r[0] for r in rows}


def trgm_available(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ).fetchone()
        return row[0] == 1


def test_listing_indexes_apply_and_roll_back(scratch):
    url = scratch.create()
    applied = migrate.apply(url)
    with_trgm = trgm_available(url)
    expected = LISTING_INDEXES | ({"tasks_search_trgm_idx"} if with_trgm else set())
    assert expected <= indexes(url)
    assert "tasks_user_updated_idx" not in indexes(url)
    assert ("tasks_search_trgm_idx" in indexes(url)) == with_trgm
    # Every later migration builds on 0002, so they all come off with it, newest first.
    newer = applied[applied.index("0002.listing-indexes") :]
    assert migrate.rollback(url, count=len(newer)) == list(reversed(newer))
    assert not (expected & indexes(url))
    assert "tasks_user_created_idx" in indexes(url)
    migrate.apply(url)
    assert expected <= indexes(url)


def test_listing_indexes_lead_with_user_id(database_url):
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'"
        ).fetchall()
    for name, definition in rows:
        if name in LISTING_INDEXES:
            assert "(user_id, " in definition, definition


def test_the_stamps_migration_moves_the_updated_and_change_indexes_and_rolls_back(scratch):
    url = scratch.create()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tasks (user_id, title) VALUES ('stamp-user', 'kept')")
        applied, _ = migrate.status(url)
        newer = applied[applied.index("0014.task-stamps") :]  # 0014 and what builds on it
        assert migrate.rollback(url, count=len(newer)) == list(reversed(newer))
        assert {"tasks_user_updated_idx", "tasks_user_change_idx"} <= indexes(url)
        migrate.apply(url)
        # Applied again: the existing task got its stamp, and the indexes moved.
        row = conn.execute(
            "SELECT s.change_seq = t.change_seq AND s.updated_at = t.updated_at"
            " FROM tasks AS t JOIN task_stamps AS s ON (s.user_id, s.task_id) = (t.user_id, t.id)"
            " WHERE t.user_id = 'stamp-user'"
        ).fetchone()
        assert row == (True,)
        assert not ({"tasks_user_updated_idx", "tasks_user_change_idx"} & indexes(url))
