"""A completion toggle writes none of tasks' indexes: a HOT update (migration 0014).

tasks' updated_at and change_seq are in no index of tasks (their orders live on task_stamps,
kept by a trigger), and tasks leaves room on each page (fillfactor 85), so that a toggle,
the commonest write, is a heap-only update: no entry in any of tasks' dozen indexes.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from service.data.queries import Queries
from tests.conftest import CITUS

QUERIES = Queries.load()

pytestmark = pytest.mark.skipif(CITUS, reason="per-table statistics live on the shards")


def hot_updates(db: psycopg.Connection) -> tuple[int, int]:
    """Return (updates, HOT updates) of tasks by the current transaction."""
    row = db.execute(
        "SELECT pg_stat_get_xact_tuples_updated('tasks'::regclass) AS updated,"
        "       pg_stat_get_xact_tuples_hot_updated('tasks'::regclass) AS hot"
    ).fetchone()
    assert row is not None
    return row["updated"], row["hot"]


def stamp(db: psycopg.Connection, user_id: str, task_id: str) -> tuple | None:
    """Return the task's stamp (change_seq, updated_at, whether the task agrees), or None."""
    row = db.execute(
        "SELECT s.change_seq, s.updated_at, t.change_seq = s.change_seq"
        " AND t.updated_at = s.updated_at AS agrees"
        " FROM task_stamps AS s JOIN tasks AS t ON (t.user_id, t.id) = (s.user_id, s.task_id)"
        " WHERE s.user_id = %s AND s.task_id = %s",
        (user_id, task_id),
    ).fetchone()
    return None if row is None else (row["change_seq"], row["updated_at"], row["agrees"])


def test_a_toggle_is_a_hot_update_and_moves_the_tasks_stamp(api, db):
    task = api.created(title="toggled")
    before = stamp(db, api.user_id, task["id"])
    assert before is not None and before[2]
    params = {
        "user_id": api.user_id,
        "task_id": task["id"],
        "if_versions": None,
        "cascade": True,
        "completion_id": uuid.uuid4(),
        "finish_series": False,
        "tasks_url": "http://localhost/x",
    }
    with db.transaction():
        row = db.execute(QUERIES["task_toggle_flat"], params).fetchone()
        assert row is not None
        assert hot_updates(db) == (1, 1)
        after = stamp(db, api.user_id, task["id"])
    assert after[0] > before[0] and after[1] > before[1] and after[2]


def test_a_title_edit_is_not_hot_but_still_moves_the_stamp(api, db):
    # The search index covers the title: such a write updates the indexes, as before.
    task = api.created(title="before")
    before = stamp(db, api.user_id, task["id"])
    edited = api.app.patch_json(api.item(task["id"]), {"title": "after"}).json
    after = stamp(db, api.user_id, task["id"])
    assert after[0] > before[0] and after[2]
    assert edited["updated_at"] != task["updated_at"]


def test_a_purged_tasks_stamp_goes_with_it(api, db):
    task = api.created(title="purged")
    db.execute("DELETE FROM tasks WHERE user_id = %s AND id = %s", (api.user_id, task["id"]))
    assert stamp(db, api.user_id, task["id"]) is None
