"""Events from the task and list write paths: written with the change, only for subscribed users.

Every v1 write (create, update, toggle, set, bulk complete, delete, bulk delete), a move
(task.moved) and a list's creation and change (list.created, list.updated) record their
event in the same statement as the change; a rolled-back write records nothing; a write by
a web worker killed right after its commit is still delivered.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import uuid

import psycopg
import pytest
from standardwebhooks import Webhook
from webtest import TestApp

from service.data import unit_of_work
from service.data.pool import create_pool
from service.data.queries import Queries
from service.data.tasks import TaskStore
from service.jobs.deliver_webhooks import DeliverWebhooks
from service.server.bootstrap import build
from tests.conftest import make_config
from tests.faultkit import Gunicorn, call
from tests.webhook_receiver import (  # noqa: F401 - quiet_webhooks: an autouse fixture
    NOWHERE,
    TASK_EVENTS,
    quiet_webhooks,
    receiver,
    subscribe,
    wait_until,
)

QUERIES = Queries.load()


@pytest.fixture(autouse=True)
def disable_hooks_afterwards(database_url, user_id, other_user):
    """Leave no due delivery of this module for the other modules' delivery jobs."""
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhooks SET enabled = false WHERE user_id = ANY(%s) OR url = %s",
            ([user_id, other_user], NOWHERE),
        )


def events_of(db, user_id):
    rows = db.execute(
        "SELECT e.id::text AS id, e.type, e.data, "
        "(SELECT count(*) FROM webhook_deliveries d WHERE d.event_id = e.id) AS deliveries "
        "FROM events e WHERE e.user_id = %s ORDER BY e.occurred_at, e.id",
        (user_id,),
    ).fetchall()
    return rows


def test_every_v1_write_records_its_event_with_the_task_as_returned(hooks_app, db, user_id):
    app = hooks_app
    subscribe(app, user_id)
    base = f"/api/{user_id}/tasks"
    created = app.post_json(base, {"title": "one", "tags": ["b", "a"]}, status=201).json
    url = created["url"]
    updated = app.patch_json(url, {"title": "one!"}).json
    app.patch_json(url, {"title": "one!"})  # no change: no event
    completed = app.patch(f"{url}/complete").json
    uncompleted = app.patch(f"{url}/complete").json
    set_done = app.patch_json(f"{url}/complete", {"completed": True}).json
    app.put_json(url, {"completed": False})
    second = app.post_json(base, {"title": "two"}, status=201).json
    assert app.patch_json(base, {"completed": True}).json == {"updated": 2}
    deleted = app.delete(url).json
    assert app.delete(base).json["deleted"] == 1
    got = events_of(db, user_id)
    assert [e["type"] for e in got] == [
        "task.created",
        "task.updated",
        "task.completed",
        "task.uncompleted",
        "task.completed",
        "task.uncompleted",
        "task.created",
        "task.completed",
        "task.completed",
        "task.deleted",
        "task.deleted",
    ]
    # `data` is the task exactly as the answer to the write gave it (url and reminders
    # included).
    assert got[0]["data"] == created
    assert got[1]["data"] == updated
    assert got[2]["data"] == completed
    assert got[3]["data"] == uncompleted
    assert got[4]["data"] == set_done
    assert got[6]["data"] == second
    assert got[9]["data"] == deleted
    assert got[10]["data"]["id"] == second["id"] and got[10]["data"]["completed"] is True
    assert {got[7]["data"]["id"], got[8]["data"]["id"]} == {created["id"], second["id"]}
    assert all(e["deliveries"] == 1 for e in got)


def test_only_the_subscribed_types_are_recorded(hooks_app, db, user_id):
    subscribe(hooks_app, user_id, events=["task.deleted"])
    task = hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, status=201).json
    hooks_app.patch(f"{task['url']}/complete")
    hooks_app.delete(task["url"])
    assert [e["type"] for e in events_of(db, user_id)] == ["task.deleted"]


def test_a_user_without_webhooks_records_nothing(hooks_app, db, user_id, other_user):
    subscribe(hooks_app, other_user)  # someone else's webhook changes nothing for this user
    task = hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, status=201).json
    hooks_app.patch(f"{task['url']}/complete")
    hooks_app.patch_json(f"/api/{user_id}/tasks", {"completed": False})
    hooks_app.delete(f"/api/{user_id}/tasks")
    assert events_of(db, user_id) == []


def test_a_disabled_webhook_records_nothing(hooks_app, db, user_id):
    hook = subscribe(hooks_app, user_id)
    hooks_app.patch_json(f"/api/{user_id}/webhooks/{hook['id']}", {"enabled": False})
    hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, status=201)
    assert events_of(db, user_id) == []


def test_a_rolled_back_write_records_nothing(database_url, hooks_app, db, user_id):
    subscribe(hooks_app, user_id)
    pool = create_pool(make_config(database_url, POOL_MIN_SIZE="0"), QUERIES)
    pool.open(wait=True, timeout=10)
    store = TaskStore(pool, QUERIES)
    try:
        with pool.connection() as conn:
            with conn.transaction(force_rollback=True):
                token = unit_of_work.bind(conn)
                try:
                    task = store.create(user_id, {"title": "never"})
                    # Inside the transaction, the event is there with the task...
                    inside = conn.execute(
                        "SELECT count(*) AS n FROM events WHERE user_id = %s", (user_id,)
                    ).fetchone()
                    assert inside["n"] == 1
                finally:
                    unit_of_work.unbind(token)
    finally:
        pool.close()
    # ...and after the rollback neither is.
    assert db.execute("SELECT 1 FROM tasks WHERE id = %s", (task["id"],)).fetchone() is None
    assert events_of(db, user_id) == []
    deliveries = db.execute(
        "SELECT count(*) AS n FROM webhook_deliveries WHERE user_id = %s", (user_id,)
    ).fetchone()
    assert deliveries["n"] == 0


def test_a_web_worker_killed_right_after_commit_still_delivers(database_url, user_id):
    """kill -9 of the whole gunicorn right after the 201: the event is in the database."""
    server = Gunicorn(database_url, WEBHOOK_ALLOW_INSECURE="true", WEB_CONCURRENCY="1")
    with receiver() as rx:
        try:
            server.start()
            hook = call(
                server.port,
                "POST",
                f"/api/{user_id}/webhooks",
                {"url": rx.url, "events": ["task.created"]},
            )
            assert hook.status == 201, hook
            created = call(server.port, "POST", f"/api/{user_id}/tasks", {"title": "survive"})
            assert created.status == 201
            for pid in [*server.workers(), server.proc.pid]:
                os.kill(pid, signal.SIGKILL)
            server.proc.wait(10)
        finally:
            server.stop()
        assert rx.requests == []  # nothing was sent from the web process
        config = make_config(database_url, POOL_MIN_SIZE="0")
        pool = create_pool(config, QUERIES)
        pool.open(wait=True, timeout=10)
        job = DeliverWebhooks(pool, QUERIES, concurrency=2, allow_insecure=True)
        try:
            stopping = threading.Event()
            wait_until(lambda: job.run_once(stopping) is not None and rx.requests, timeout=20)
        finally:
            job.stop()
            pool.close()
    got = rx.requests[0]
    payload = Webhook(hook.body["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "task.created"
    assert payload["data"]["id"] == created.body["id"]
    assert payload["data"]["url"] == created.body["url"]


def test_event_urls_follow_the_request_host(hooks_app, db, user_id):
    subscribe(hooks_app, user_id)
    task = hooks_app.post_json(
        f"/api/{user_id}/tasks", {"title": "x"}, extra_environ={"HTTP_HOST": "other.test"}
    ).json
    assert task["url"].startswith("http://other.test/")
    assert events_of(db, user_id)[0]["data"]["url"] == task["url"]


def test_user_ids_with_a_pipe_are_escaped_in_event_urls(hooks_app, db):
    user = f"auth0|{uuid.uuid4().hex[:8]}"
    subscribe(hooks_app, user)
    task = hooks_app.post_json(f"/api/{user}/tasks", {"title": "x"}, status=201).json
    assert "%7C" in task["url"]
    assert events_of(db, user)[0]["data"]["url"] == task["url"]


def _nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


@pytest.mark.parametrize(
    "name",
    [
        "task_insert",
        "task_toggle",
        "task_toggle_flat",
        "task_delete_matching",
        "task_move_subtree",
        "task_reopen_ancestors",
        "list_insert",
        "list_update",
        "task_reminders_counted",
    ],
)
def test_a_user_without_webhooks_pays_one_index_probe(database_url, hooks_app, user_id, name):
    """What the outbox costs a user without webhooks: one probe of the webhooks key, and the
    event's formatting and inserts never run (the plan says so, counted in buffers)."""
    task = hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "t"}, status=201).json
    params = {
        "user_id": user_id,
        "task_id": task["id"],
        "title": "t",
        "completed": False if name == "task_insert" else None,
        "priority": "normal",
        "tags": [],
        "position": "a0",
        "cascade": True,
        "completion_id": None if name == "task_insert" else uuid.uuid4(),
        "tasks_url": "http://x/api/u/tasks",
        "batch_id": uuid.uuid4(),
        "ids": [task["id"]],
        "name": "n",
    }
    # Every other parameter the statement names (optional fields) is NULL.
    for parameter in re.findall(r"%\((\w+)\)s", QUERIES[name]):
        params.setdefault(parameter, None)
    explain = psycopg.sql.SQL("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {}")
    with psycopg.connect(database_url) as conn:
        # The suite's webhooks table stays a few pages, where the planner may prefer reading
        # it whole (6 pages were seen); what matters at scale is that the guard is a probe of
        # the key, so take the plan the planner picks once the table is large.
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(explain.format(psycopg.sql.SQL(QUERIES[name])), params).fetchone()
        conn.rollback()
    nodes = list(_nodes(plan[0][0]["Plan"]))
    probes = [n for n in nodes if n.get("Relation Name") == "webhooks"]
    assert len(probes) == 1 and probes[0]["Actual Rows"] == 0
    assert probes[0]["Shared Hit Blocks"] + probes[0].get("Shared Read Blocks", 0) <= 3
    inserts = {n["Relation Name"]: n for n in nodes if n.get("Node Type") == "ModifyTable"}
    assert inserts["events"]["Actual Rows"] == 0
    assert inserts["webhook_deliveries"]["Actual Rows"] == 0
    if name in (
        "task_delete_matching",
        "task_move_subtree",
        "task_reopen_ancestors",
        "task_reminders_counted",
    ):
        # A bulk write formats no row at all (a one-time filter); a single-task write
        # formats its one row anyway, for its answer.
        below_event = list(_nodes(inserts["events"]))
        assert any(n.get("Actual Loops") == 0 for n in below_event)


def test_a_cascade_records_an_event_for_each_sub_task_it_changed(hooks_app, db, user_id):
    subscribe(hooks_app, user_id, events=["task.completed", "task.uncompleted"])
    base = f"/api/{user_id}/tasks"
    parent = hooks_app.post_json(base, {"title": "parent"}, status=201).json
    child = hooks_app.post_json(base, {"title": "child", "parent_id": parent["id"]}).json
    done = hooks_app.patch(f"{parent['url']}/complete").json
    assert done["id"] == parent["id"] and done["completed"] is True
    hooks_app.patch(f"{parent['url']}/complete")
    got = [(e["type"], e["data"]["id"]) for e in events_of(db, user_id)]
    assert sorted(got[:2]) == sorted(
        [("task.completed", parent["id"]), ("task.completed", child["id"])]
    )
    assert sorted(got[2:]) == sorted(
        [("task.uncompleted", parent["id"]), ("task.uncompleted", child["id"])]
    )
    child_event = next(e for e in events_of(db, user_id) if e["data"]["id"] == child["id"])
    assert child_event["data"]["parent_id"] == parent["id"]
    assert child_event["data"]["url"] == child["url"]


def test_a_recurring_tasks_event_carries_its_recurrence_as_answered(hooks_app, db, user_id):
    subscribe(hooks_app, user_id)
    body = {
        "title": "weekly",
        "due_at": "2030-01-07T09:00:00Z",
        "recurrence": {"rule": "FREQ=WEEKLY", "basis": "due"},
    }
    created = hooks_app.post_json(f"/api/{user_id}/tasks", body, status=201).json
    assert created["recurrence"] == {"rule": "FREQ=WEEKLY", "basis": "due"}
    event = events_of(db, user_id)[0]
    assert event["data"] == created
    assert "recurrence_rule" not in event["data"]


def test_completing_a_recurring_task_records_one_occurrences_task_completed(hooks_app, db, user_id):
    subscribe(hooks_app, user_id, events=["task.completed"])
    body = {
        "title": "daily",
        "due_at": "2030-01-07T09:00:00Z",
        "recurrence": {"rule": "FREQ=DAILY", "basis": "due"},
    }
    created = hooks_app.post_json(f"/api/{user_id}/tasks", body, status=201).json
    advanced = hooks_app.patch(f"{created['url']}/complete").json
    assert advanced["completed"] is False and advanced["due_at"] > created["due_at"]
    got = events_of(db, user_id)
    assert [e["type"] for e in got] == ["task.completed"]
    assert got[0]["data"] == advanced
    assert got[0]["deliveries"] == 1


def test_moving_a_task_records_task_moved_for_it_and_each_sub_task_it_took_along(
    hooks_app, db, user_id
):
    subscribe(hooks_app, user_id, events=["task.moved", "task.updated"])
    base = f"/api/{user_id}/tasks"
    errands = hooks_app.post_json(f"/api/{user_id}/lists", {"name": "errands"}, status=201).json
    parent = hooks_app.post_json(base, {"title": "parent"}, status=201).json
    child = hooks_app.post_json(base, {"title": "child", "parent_id": parent["id"]}).json
    other = hooks_app.post_json(base, {"title": "other"}, status=201).json
    moved = hooks_app.post_json(
        f"{parent['url']}/move", {"list_id": errands["id"], "after": None}
    ).json
    got = events_of(db, user_id)
    assert sorted((e["type"], e["data"]["id"]) for e in got) == sorted(
        [("task.moved", parent["id"]), ("task.moved", child["id"])]
    )
    by_id = {e["data"]["id"]: e for e in got}
    assert by_id[parent["id"]]["data"] == moved
    child_now = hooks_app.get(child["url"]).json
    assert by_id[child["id"]]["data"] == child_now
    assert (
        child_now["list_id"] == errands["id"] and by_id[child["id"]]["data"]["url"] == child["url"]
    )
    assert all(e["deliveries"] == 1 for e in got)
    # A new place among the same siblings is a move too; so is a PATCH of list_id; a
    # change of other fields stays task.updated.
    hooks_app.post_json(f"{other['url']}/move", {"after": None})
    hooks_app.post_json(f"{other['url']}/move", {"after": None})  # already first: no change
    hooks_app.patch_json(other["url"], {"list_id": errands["id"]})
    hooks_app.patch_json(other["url"], {"title": "other!"})
    assert [(e["type"], e["data"]["id"]) for e in events_of(db, user_id)[2:]] == [
        ("task.moved", other["id"]),
        ("task.moved", other["id"]),
        ("task.updated", other["id"]),
    ]


def test_lists_record_list_created_and_list_updated_with_the_list_as_answered(
    hooks_app, db, user_id
):
    subscribe(hooks_app, user_id, events=["list.created", "list.updated"])
    lists = f"/api/{user_id}/lists"
    created = hooks_app.post_json(lists, {"name": "home", "color": "#00ff00"}, status=201).json
    assert created == hooks_app.get(f"{lists}/{created['id']}").json
    hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "t", "list_id": created["id"]})
    renamed = hooks_app.patch_json(f"{lists}/{created['id']}", {"name": "house"}).json
    hooks_app.patch_json(f"{lists}/{created['id']}", {"name": "house"})  # no change: no event
    got = events_of(db, user_id)
    assert [e["type"] for e in got] == ["list.created", "list.updated"]
    assert got[0]["data"] == created
    assert got[1]["data"] == renamed and renamed["open_count"] == 1
    assert all(e["deliveries"] == 1 for e in got)


def test_an_open_sub_task_under_a_completed_parent_records_the_parents_reopening(
    hooks_app, db, user_id
):
    subscribe(hooks_app, user_id, events=["task.uncompleted"])
    base = f"/api/{user_id}/tasks"
    parent = hooks_app.post_json(base, {"title": "parent", "completed": True}, status=201).json
    hooks_app.post_json(base, {"title": "child", "parent_id": parent["id"]}, status=201)
    got = events_of(db, user_id)
    assert [(e["type"], e["data"]["id"]) for e in got] == [("task.uncompleted", parent["id"])]
    assert got[0]["data"] == hooks_app.get(parent["url"]).json


def test_a_move_list_created_and_list_updated_are_delivered_signed(database_url, user_id):
    """The new event types through the whole outbox: a real receiver on 127.0.0.1."""
    runtime = build(make_config(database_url, WEBHOOK_ALLOW_INSECURE="true"))
    runtime.pool.open(wait=True, timeout=10)
    app = TestApp(runtime.app, extra_environ={"HTTP_HOST": "tasks.test"})
    pool = create_pool(make_config(database_url, POOL_MIN_SIZE="0"), QUERIES)
    pool.open(wait=True, timeout=10)
    job = DeliverWebhooks(pool, QUERIES, concurrency=2, allow_insecure=True)
    try:
        with receiver() as rx:
            hook = subscribe(app, user_id, ["task.moved", "list.created", "list.updated"], rx.url)
            made = app.post_json(f"/api/{user_id}/lists", {"name": "a"}, status=201).json
            changed = app.patch_json(f"/api/{user_id}/lists/{made['id']}", {"color": "#123456"})
            task = app.post_json(f"/api/{user_id}/tasks", {"title": "t"}, status=201).json
            moved = app.post_json(
                f"{task['url']}/move", {"list_id": made["id"], "after": None}
            ).json
            stopping = threading.Event()
            wait_until(lambda: job.run_once(stopping) is not None and len(rx.requests) >= 3)
            payloads = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in rx.requests]
    finally:
        job.stop()
        pool.close()
        runtime.stop()
    by_type = {p["type"]: p for p in payloads}
    assert sorted(by_type) == ["list.created", "list.updated", "task.moved"]
    assert by_type["list.created"]["data"] == made
    assert by_type["list.updated"]["data"] == changed.json
    assert by_type["task.moved"]["data"] == moved
    assert by_type["task.moved"]["data"]["url"] == task["url"]


REMINDER_AT = "2030-05-03T08:00:00.000000Z"
DUE = "2030-05-03T09:00:00.000000Z"


def test_task_events_carry_the_tasks_reminders_as_get_shows_them(hooks_app, db, user_id):
    events = [*TASK_EVENTS, "task.moved"]
    subscribe(hooks_app, user_id, events=events)
    base = f"/api/{user_id}/tasks"
    reminders = [{"at": REMINDER_AT}, {"before_due": 15}]
    parent = hooks_app.post_json(base, {"title": "p", "due_at": DUE, "reminders": reminders}).json
    child = hooks_app.post_json(
        base, {"title": "c", "parent_id": parent["id"], "reminders": [{"at": REMINDER_AT}]}
    ).json
    flat = hooks_app.post_json(base, {"title": "f", "reminders": [{"at": REMINDER_AT}]}).json
    assert len(parent["reminders"]) == 2 and len(child["reminders"]) == 1
    db.execute("DELETE FROM events WHERE user_id = %s", (user_id,))  # the creations: below

    def answered_and_recorded(answer: dict) -> None:
        recorded = [e["data"] for e in events_of(db, user_id) if e["data"]["id"] == answer["id"]]
        assert recorded[-1] == answer

    answered_and_recorded(hooks_app.patch(f"{flat['url']}/complete").json)  # no relatives
    answered_and_recorded(hooks_app.patch(f"{parent['url']}/complete").json)  # a cascade
    answered_and_recorded(hooks_app.get(child["url"]).json)
    assert hooks_app.patch_json(base, {"completed": False}).json == {"updated": 3}  # bulk
    for task in (parent, child, flat):
        answered_and_recorded(hooks_app.get(task["url"]).json)
    answered_and_recorded(hooks_app.patch_json(parent["url"], {"title": "p!"}).json)
    elsewhere = hooks_app.post_json(f"/api/{user_id}/lists", {"name": "l"}, status=201).json
    moved = hooks_app.post_json(
        f"{parent['url']}/move", {"list_id": elsewhere["id"], "after": None}
    ).json
    answered_and_recorded(moved)
    answered_and_recorded(hooks_app.get(child["url"]).json)  # taken along: task.moved
    deleted = hooks_app.delete(parent["url"]).json
    answered_and_recorded(deleted)
    assert len(deleted["reminders"]) == 2
    child_deleted = [e["data"] for e in events_of(db, user_id) if e["data"]["id"] == child["id"]][
        -1
    ]
    assert child_deleted["deleted_at"] and child_deleted["reminders"] == child["reminders"]
    assert all(e["data"]["reminders"] for e in events_of(db, user_id))


def test_the_event_of_a_write_that_changes_reminders_shows_them_as_they_were_before_it(
    hooks_app, db, user_id
):
    """A known limit (docs/webhooks.md): the reminders are written after the task's statement,
    in the same transaction, so its event cannot see them; the next event of the task does."""
    subscribe(hooks_app, user_id)
    base = f"/api/{user_id}/tasks"
    created = hooks_app.post_json(base, {"title": "t", "reminders": [{"at": REMINDER_AT}]}).json
    changed = hooks_app.patch_json(created["url"], {"title": "t!", "reminders": []}).json
    later = hooks_app.patch_json(created["url"], {"title": "t!!"}).json
    got = [e["data"] for e in events_of(db, user_id)]
    assert got[0]["reminders"] == [] and len(created["reminders"]) == 1
    assert got[1]["reminders"] == created["reminders"] and changed["reminders"] == []
    assert got[2] == later


def test_a_change_of_the_reminders_alone_records_task_updated_with_the_new_set(
    hooks_app, db, user_id
):
    subscribe(hooks_app, user_id)
    task = hooks_app.post_json(f"/api/{user_id}/tasks", {"title": "t"}, status=201).json
    added = hooks_app.patch_json(task["url"], {"reminders": [{"at": REMINDER_AT}]}).json
    hooks_app.patch_json(task["url"], {"reminders": added["reminders"]})  # the same: nothing
    cleared = hooks_app.patch_json(task["url"], {"reminders": []}).json
    got = events_of(db, user_id)
    assert [e["type"] for e in got] == ["task.created", "task.updated", "task.updated"]
    assert got[1]["data"] == added and len(added["reminders"]) == 1
    assert got[2]["data"] == cleared and cleared["reminders"] == []
    assert cleared["version"] == added["version"] + 1 == task["version"] + 2
    assert all(e["deliveries"] == 1 for e in got)
