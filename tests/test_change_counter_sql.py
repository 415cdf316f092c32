"""Every write statement on tasks or lists in sql/ moves the user's change counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.change_counter_rules import check_sql_dir, problems

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def test_every_write_statement_on_tasks_and_lists_moves_the_change_counter():
    found, writes = check_sql_dir(SQL_DIR)
    assert found == []
    # The walk sees the writes (so an empty pass cannot hide a broken walker): creates,
    # updates, toggles, bulk changes, moves, recurrence, lists, trash, restore and purges.
    assert writes >= 30


TICK = """tick AS (INSERT INTO change_counters AS cc (user_id, seq) VALUES (%(user_id)s, 1)
ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1 RETURNING cc.seq)"""

# A guarded tick (the outbox-free statements): it matches no row while the user has webhooks.
GUARDED = """tick AS (UPDATE change_counters AS cc SET seq = cc.seq + 1
WHERE cc.user_id = %(user_id)s AND cc.webhooks = 0 RETURNING cc.seq)"""


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("UPDATE tasks SET title = 'x' WHERE user_id = %(user_id)s", "sets no change_seq"),
        (
            f"WITH {TICK} UPDATE tasks SET title = 'x' WHERE user_id = %(user_id)s",
            "sets no change_seq",
        ),
        (
            "UPDATE lists SET change_seq = 7 WHERE user_id = %(user_id)s",
            "sets no change_seq",
        ),
        ("INSERT INTO lists (user_id, name) VALUES (%(user_id)s, 'x')", "sets no change_seq"),
        (
            f"WITH {TICK} DELETE FROM tasks WHERE user_id = %(user_id)s",
            "leaves no tombstone",
        ),
        (
            "WITH gone AS (UPDATE tasks SET change_seq = (SELECT seq FROM tick) "
            "WHERE user_id = %(user_id)s RETURNING id) SELECT count(*) FROM gone",
            "ticks",
        ),
        (
            f"WITH {TICK} SELECT id FROM tasks WHERE user_id = %(user_id)s FOR UPDATE",
            "before the counter",
        ),
        (
            f"WITH {GUARDED} UPDATE tasks SET change_seq = (SELECT seq FROM tick) "
            "WHERE user_id = %(user_id)s",
            "not guarded by the tick",
        ),
        (
            f"WITH {GUARDED} INSERT INTO tasks (user_id, title, change_seq) "
            "VALUES (%(user_id)s, 'x', (SELECT seq FROM tick))",
            "not guarded by the tick",
        ),
    ],
)
def test_the_walk_flags_a_write_that_does_not_move_the_counter(text, complaint):
    found, _ = problems(text)
    assert found and complaint in found[0]


def test_the_walk_accepts_a_stamped_write():
    text = (
        f"WITH {TICK} UPDATE tasks SET change_seq = (SELECT seq FROM tick), title = 'x' "
        "WHERE user_id = %(user_id)s"
    )
    assert problems(text) == ([], 1)


@pytest.mark.parametrize(
    "text",
    [
        f"WITH {GUARDED} UPDATE tasks SET change_seq = (SELECT seq FROM tick), title = 'x' "
        "WHERE user_id = %(user_id)s AND EXISTS (SELECT FROM tick)",
        f"WITH {GUARDED} INSERT INTO tasks (user_id, title, change_seq) "
        "SELECT %(user_id)s, 'x', tick.seq FROM tick",
    ],
)
def test_the_walk_accepts_a_write_guarded_by_a_tick_that_may_match_nothing(text):
    assert problems(text) == ([], 1)
