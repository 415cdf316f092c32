"""The outbox-free create and toggle: for a user without webhooks, no outbox at all.

task_insert_plain and task_toggle_plain write only while the user's webhook count on the
change counter row (kept by a trigger on webhooks, migration 0017) is zero; for any other
user they write nothing, and the service runs task_insert / task_toggle_flat, which write
the events. What must hold: the count follows every way a webhook comes and goes, a
webhook committed before a write always gets that write's event (even when the write was
already waiting on the counter row while the webhook was being created), and the plain
statements write exactly what the outbox forms write, minus the outbox.
"""

from __future__ import annotations

import re
import threading
import uuid

import psycopg
import pytest

from service.data.queries import Queries
from service.server import migrate
from tests.conftest import waiting_on_a_lock

# quiet_webhooks (autouse) disables this module's loopback webhooks after each test.
from tests.webhook_receiver import (  # noqa: F401 - quiet_webhooks: an autouse fixture
    NOWHERE,
    quiet_webhooks,
    subscribe,
    wait_until,
)

QUERIES = Queries.load()
OUTBOX_TABLES = {"webhooks", "events", "webhook_deliveries"}


def counter(db, user_id):
    return db.execute(
        "SELECT seq, webhooks FROM change_counters WHERE user_id = %s", (user_id,)
    ).fetchone()


def events(db, user_id):
    return [
        row["type"]
        for row in db.execute(
            "SELECT type FROM events WHERE user_id = %s ORDER BY occurred_at, id", (user_id,)
        )
    ]


def params(user_id, task_id=None):
    """Every parameter the two plain statements name: a new open task, or a toggle."""
    values = {
        "user_id": user_id,
        "task_id": task_id,
        "title": "t",
        "completed": False,
        "priority": "normal",
        "tags": [],
        "position": "a0",
        # A new open task has none; a toggle that completes records one.
        "completion_id": None if task_id is None else uuid.uuid4(),
        "tasks_url": "http://x/api/u/tasks",
    }
    for name in ("task_insert_plain", "task_toggle_plain"):
        for parameter in re.findall(r"%\((\w+)\)s", QUERIES[name]):
            values.setdefault(parameter, None)
    return values


def test_a_user_without_webhooks_writes_ticked_tasks_and_no_event(hooks_app, db, user_id):
    base = f"/api/{user_id}/tasks"
    first = hooks_app.post_json(base, {"title": "first"}, status=201).json  # makes the counter
    second = hooks_app.post_json(base, {"title": "second"}, status=201).json
    toggled = hooks_app.patch(f"{base}/{second['id']}/complete").json
    assert toggled["completed"] is True and toggled["version"] == second["version"] + 1
    assert toggled["reminders"] == [] and toggled["url"] == second["url"]
    assert counter(db, user_id) == {"seq": 3, "webhooks": 0}
    seqs = {
        str(row["id"]): row["change_seq"]
        for row in db.execute("SELECT id, change_seq FROM tasks WHERE user_id = %s", (user_id,))
    }
    assert seqs == {first["id"]: 1, second["id"]: 3}
    assert events(db, user_id) == []
    # And the feed shows both, the toggled one in its latest state.
    changes = hooks_app.get(f"/api/{user_id}/changes").json
    assert {(c["id"], c["data"]["completed"]) for c in changes["changes"]} == {
        (first["id"], False),
        (second["id"], True),
    }


def test_the_plain_statements_answer_as_the_outbox_forms_do(db, user_id):
    db.execute("INSERT INTO change_counters (user_id, seq) VALUES (%s, 1)", (user_id,))
    plain = db.execute(QUERIES["task_insert_plain"], params(user_id)).fetchone()
    full = db.execute(QUERIES["task_insert"], params(user_id)).fetchone()
    assert plain.keys() == full.keys()
    # The two forms are separate files: every column must come back the same (but the
    # task's own id and instants), so that one cannot drift from the other unseen.
    own = {"id", "created_at", "updated_at", "completed_at"}
    assert {k: v for k, v in plain.items() if k not in own} == {
        k: v for k, v in full.items() if k not in own
    }
    toggled = db.execute(QUERIES["task_toggle_plain"], params(user_id, plain["id"])).fetchone()
    toggled_full = db.execute(QUERIES["task_toggle_flat"], params(user_id, full["id"])).fetchone()
    assert toggled.keys() == toggled_full.keys()
    assert (toggled["completed"], toggled_full["completed"]) == (True, True)
    assert {k: v for k, v in toggled.items() if k not in own} == {
        k: v for k, v in toggled_full.items() if k not in own
    }
    assert toggled["completed_at"] is not None and toggled_full["completed_at"] is not None
    assert counter(db, user_id)["seq"] == 5


def test_the_plain_statements_write_nothing_for_a_user_with_a_webhook(hooks_app, db, user_id):
    task = hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "t"}, status=201).json
    subscribe(hooks_app, user_id)
    before = counter(db, user_id)
    assert before["webhooks"] == 1
    assert db.execute(QUERIES["task_insert_plain"], params(user_id)).fetchone() is None
    assert db.execute(QUERIES["task_toggle_plain"], params(user_id, task["id"])).fetchone() is None
    assert counter(db, user_id) == before
    row = db.execute(
        "SELECT count(*) AS n, bool_or(completed) AS done FROM tasks WHERE user_id = %s",
        (user_id,),
    ).fetchone()
    assert row == {"n": 1, "done": False}
    # Through the service, the writes take the outbox forms and record their events.
    hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "u"}, status=201)
    hooks_app.patch(f"/api/{user_id}/tasks/{task['id']}/complete")
    assert events(db, user_id) == ["task.created", "task.completed"]


def test_the_plain_statements_write_nothing_before_the_users_first_write(db, user_id):
    assert db.execute(QUERIES["task_insert_plain"], params(user_id)).fetchone() is None
    assert counter(db, user_id) is None
    assert db.execute("SELECT 1 FROM tasks WHERE user_id = %s", (user_id,)).fetchone() is None


@pytest.mark.parametrize("name", ["task_insert_plain", "task_toggle_plain"])
def test_the_plain_statements_open_no_outbox_table(db, user_id, name):
    db.execute("INSERT INTO change_counters (user_id, seq) VALUES (%s, 1)", (user_id,))
    task = db.execute(QUERIES["task_insert_plain"], params(user_id)).fetchone()
    explain = psycopg.sql.SQL("EXPLAIN (FORMAT JSON) {}").format(psycopg.sql.SQL(QUERIES[name]))
    plan = db.execute(explain, params(user_id, task["id"])).fetchone()
    text = str(plan)
    assert not any(f"'Relation Name': '{table}'" in text for table in OUTBOX_TABLES), text


def test_the_webhook_count_follows_creates_deletes_and_the_erase(hooks_app, db, user_id):
    # A user who never wrote gets a counter row with the first webhook.
    first = subscribe(hooks_app, user_id)
    second = subscribe(hooks_app, user_id)
    assert counter(db, user_id) == {"seq": 1, "webhooks": 2}
    hooks_app.patch_json(f"/api/{user_id}/webhooks/{first['id']}", {"enabled": False})
    assert counter(db, user_id)["webhooks"] == 2  # disabled still counts: the outbox form runs
    hooks_app.delete(f"/api/{user_id}/webhooks/{first['id']}")
    assert counter(db, user_id)["webhooks"] == 1
    # A rolled-back insert counts nothing.
    with db.transaction(force_rollback=True):
        db.execute(
            "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
            (user_id, NOWHERE, ["task.created"], "whsec_" + "A" * 32),
        )
        assert counter(db, user_id)["webhooks"] == 2
    assert counter(db, user_id)["webhooks"] == 1
    hooks_app.delete(f"/api/{user_id}")
    assert counter(db, user_id)["webhooks"] == 0
    assert second["id"] not in {str(r["id"]) for r in db.execute("SELECT id FROM webhooks")}


def test_a_write_waiting_on_a_webhook_being_created_records_its_event(
    hooks_app, database_url, db, user_id
):
    """The interleaving the count exists for: the toggle starts while the webhook's
    transaction holds the counter row (its trigger ran), so the toggle waits; the webhook
    commits; the toggle must then take the outbox form and record its event."""
    base = f"/api/{user_id}/tasks"
    task = hooks_app.post_json(base, {"title": "t"}, status=201).json
    answers: list[dict] = []
    with psycopg.connect(database_url) as creating:
        creating.execute(
            "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
            (user_id, NOWHERE, ["task.completed"], "whsec_" + "A" * 32),
        )
        toggler = threading.Thread(
            target=lambda: answers.append(hooks_app.patch(f"{base}/{task['id']}/complete").json)
        )
        toggler.start()
        assert wait_until(lambda: waiting_on_a_lock(db), timeout=10)
        assert answers == []  # still waiting on the counter row
        creating.commit()
    toggler.join(timeout=10)
    assert answers and answers[0]["completed"] is True
    assert events(db, user_id) == ["task.completed"]


def test_the_migration_counts_the_webhooks_that_exist(scratch):
    url = scratch.create()
    migrate.apply(url)
    assert migrate.rollback(url) == ["0017.counter-webhooks"]
    secret = "whsec_" + "A" * 32
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO change_counters (user_id, seq) VALUES ('wrote', 7)")
        for user, hooks in (("wrote", 2), ("never-wrote", 1)):
            for _ in range(hooks):
                conn.execute(
                    "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
                    (user, NOWHERE, ["task.created"], secret),
                )
    migrate.apply(url)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT user_id, seq, webhooks FROM change_counters ORDER BY user_id"
        ).fetchall()
    assert rows == [("never-wrote", 1, 1), ("wrote", 7, 2)]
