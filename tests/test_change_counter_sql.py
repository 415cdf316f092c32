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
