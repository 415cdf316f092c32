"""GET /api/{user_id}/export (one consistent JSON document, streamed, no secrets) and
DELETE /api/{user_id} (everything of the user erased in one transaction, counts, isolation)."""

from __future__ import annotations

import json

from falcon.testing import create_environ
from psycopg.types.json import Jsonb

from service.api.resources.account import StreamedDocument
from service.data import deadline
from service.data.queries import Queries

QUERIES = Queries.load()
WEEKLY = {"rule": "FREQ=WEEKLY", "basis": "due"}


def fill(api) -> dict:
    """Give the user a list, tasks (one a sub-task, one recurring and completed once, one in the
    trash), settings and a webhook; return what was made."""
    app, user = api.app, api.user_id
    lst = app.post_json(f"/api/{user}/lists", {"name": "Groceries"}, status=201).json
    parent = api.created(title="parent", list_id=lst["id"])
    child = api.created(title="child", parent_id=parent["id"])
    recurring = api.created(title="water", due_at="2027-01-04T09:00:00Z", recurrence=WEEKLY)
    app.patch_json(api.item(recurring["id"]) + "/complete", {"completed": True})
    api.created(title="call", due_at="2027-01-05T09:00:00Z", reminders=[{"before_due": 30}])
    gone = api.created(title="gone")
    app.delete(api.item(gone["id"]))
    app.patch_json(f"/api/{user}/settings", {"time_zone": "Europe/Berlin"})
    hook = app.post_json(
        f"/api/{user}/webhooks",
        {"url": "https://hooks.example.com/tasks", "events": ["task.created"]},
        status=201,
    ).json
    app.post_json(api.base, {"title": "fires an event"}, status=201)
    app.post_json(
        f"/api/{user}/tasks", {"title": "keyed"}, headers={"Idempotency-Key": "k1"}, status=201
    )
    return {"list": lst, "parent": parent, "child": child, "recurring": recurring,
            "gone": gone, "hook": hook}  # fmt: skip


def test_export_holds_everything_of_the_user_and_no_secret(api, other_api):
    made = fill(api)
    other_api.created(title="not mine")
    resp = api.app.get(f"/api/{api.user_id}/export")
    assert resp.content_type == "application/json"
    doc = resp.json
    assert doc["user_id"] == api.user_id
    assert doc["settings"] == {"time_zone": "Europe/Berlin", "week_start": 1}
    assert [lst["id"] for lst in doc["lists"]] == [made["list"]["id"]]
    tasks = {t["id"]: t for t in doc["tasks"]}
    live = {t["id"] for t in api.app.get(f"{api.base}?limit=500").json}
    assert live <= tasks.keys()
    # The trash is in the export: the deleted task, with when and in which batch.
    trashed = tasks[made["gone"]["id"]]
    assert trashed["deleted_at"] is not None and trashed["batch_id"] is not None
    assert tasks[made["child"]["id"]]["parent_id"] == made["parent"]["id"]
    # A task's reminders are in the export's own reminders section, keyed by task_id.
    answered = api.app.get(api.item(made["parent"]["id"])).json
    answered.pop("reminders")
    assert tasks[made["parent"]["id"]] | {"url": None} == {
        **answered,
        "batch_id": None,
        "url": None,
    }
    assert "not mine" not in {t["title"] for t in doc["tasks"]}
    assert [c["task_id"] for c in doc["completions"]] == [made["recurring"]["id"]]
    assert doc["completions"][0]["occurrence_due"] == "2027-01-04T09:00:00.000000Z"
    [reminder] = doc["reminders"]
    assert reminder["before_due"] == 30 and reminder["fire_at"] == "2027-01-05T08:30:00.000000Z"
    assert tasks[reminder["task_id"]]["title"] == "call"
    assert [h["id"] for h in doc["webhooks"]] == [made["hook"]["id"]]
    assert made["hook"]["secret"] not in resp.text and "secret" not in resp.text


def test_export_of_an_unknown_user_is_an_empty_account(app, user_id):
    doc = app.get(f"/api/{user_id}/export").json
    assert doc == {
        "user_id": user_id,
        "settings": {"time_zone": "UTC", "week_start": 1},
        "lists": [],
        "tasks": [],
        "completions": [],
        "reminders": [],
        "webhooks": [],
    }


def test_export_streams_many_tasks_in_pieces(runtime, api, db):
    db.execute(
        "INSERT INTO tasks (user_id, id, title, position)"
        " SELECT %s, gen_random_uuid(), 'task ' || i, lpad(i::text, 6, '0')"
        " FROM generate_series(1, 2500) AS i",
        (api.user_id,),
    )
    env = create_environ(f"/api/{api.user_id}/export", host="tasks.test")
    started: list[str] = []
    body = runtime.app(env, lambda status, headers, exc_info=None: started.append(status))
    assert started == ["200 OK"] and isinstance(body, StreamedDocument)
    pieces = []
    try:
        for piece in body:
            pieces.append(piece)
            if len(pieces) == 1:
                # The snapshot's connection is held while the document is being read.
                stats = runtime.pool.get_stats()
                assert stats["pool_size"] - stats["pool_available"] == 1
    finally:
        body.close()
    stats = runtime.pool.get_stats()
    assert stats["pool_size"] == stats["pool_available"]
    # One piece per 100 tasks (plus the frame), never the document in one piece.
    assert len(pieces) > 25 and max(map(len, pieces)) < len(b"".join(pieces)) / 10
    doc = json.loads(b"".join(pieces))
    assert len(doc["tasks"]) == 2500
    assert len({t["id"] for t in doc["tasks"]}) == 2500


def test_closing_an_export_before_reading_releases_its_connection(runtime, api):
    env = create_environ(f"/api/{api.user_id}/export", host="tasks.test")
    for _ in range(runtime.config.pool_max_size + 2):
        body = runtime.app(env, lambda status, headers, exc_info=None: None)
        body.close()
    # Had any leaked, the pool would be exhausted by now and this would be a 503.
    assert api.app.get(f"/api/{api.user_id}/export").json["tasks"] == []


def record_event(db, user_id: str) -> None:
    """Put an event in the user's outbox, queued to their webhook, as a task write does."""
    db.execute(
        QUERIES["event_insert"],
        {"user_id": user_id, "type": "task.created", "data": Jsonb({"title": "x"})},
    )


def test_erase_removes_everything_and_counts_it(api, db):
    fill(api)
    record_event(db, api.user_id)
    stored = db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", (api.user_id,))
    # 6 live tasks and the one in the trash, which the erase counts too.
    tasks = stored.fetchone()["n"]
    assert tasks == 7
    events, deliveries = (
        db.execute(
            f"SELECT count(*) AS n FROM {table} WHERE user_id = %s", (api.user_id,)
        ).fetchone()["n"]
        for table in ("events", "webhook_deliveries")
    )
    erased = api.app.delete(f"/api/{api.user_id}").json["erased"]
    assert erased["tasks"] == tasks
    assert erased["lists"] == 1
    assert erased["webhooks"] == 1
    assert erased["completions"] == 1
    assert erased["reminders"] == 1
    assert erased["settings"] == 1
    assert erased["events"] == events >= 1 and erased["deliveries"] == deliveries >= 1
    assert erased["idempotency_keys"] >= 1
    for table in (
        "tasks",
        "lists",
        "user_settings",
        "webhooks",
        "events",
        "webhook_deliveries",
        "webhook_delivery_attempts",
        "task_completions",
        "idempotency_keys",
    ):
        count = db.execute(
            f"SELECT count(*) AS n FROM {table} WHERE user_id = %s", (api.user_id,)
        ).fetchone()
        assert count["n"] == 0, table
    assert api.app.get(api.base).json == []
    assert api.app.get(f"/api/{api.user_id}/lists").json == []
    assert api.app.get(f"/api/{api.user_id}/webhooks").json == []
    assert api.app.get(f"/api/{api.user_id}/trash").json == []
    stats = api.app.get(f"/api/{api.user_id}/stats").json
    assert stats["total"] == 0
    # The key is free again: the same key now creates a new task.
    again = api.app.post_json(api.base, {"title": "keyed"}, headers={"Idempotency-Key": "k1"})
    assert "Idempotent-Replayed" not in again.headers
    assert api.app.delete(f"/api/{api.user_id}").json["erased"]["tasks"] == 1


def test_erase_leaves_other_users_alone(api, other_api, db):
    fill(api)
    theirs = fill(other_api)
    record_event(db, api.user_id)
    record_event(db, other_api.user_id)
    outbox = "SELECT count(*) AS n FROM webhook_deliveries WHERE user_id = %s"
    before = other_api.app.get(f"/api/{other_api.user_id}/export").json
    outbox_before = db.execute(outbox, (other_api.user_id,)).fetchone()["n"]
    assert outbox_before >= 1
    api.app.delete(f"/api/{api.user_id}")
    after = other_api.app.get(f"/api/{other_api.user_id}/export").json
    assert after == before
    assert db.execute(outbox, (other_api.user_id,)).fetchone()["n"] == outbox_before
    assert other_api.app.get(other_api.item(theirs["parent"]["id"])).json["title"] == "parent"


def test_the_account_path_takes_only_delete(api):
    resp = api.app.get(f"/api/{api.user_id}", status=405)
    assert "DELETE" in resp.headers["Allow"]


def test_a_streamed_export_leaves_no_database_deadline_behind(runtime, api):
    env = create_environ(f"/api/{api.user_id}/export", host="tasks.test")
    body = runtime.app(env, lambda status, headers, exc_info=None: None)
    b"".join(body)
    body.close()
    # The request is over: nothing of its database budget may remain in force.
    assert deadline.current() is None


def test_an_erase_under_an_idempotency_key_replays_its_counts(api):
    api.created(title="one")
    key = {"Idempotency-Key": "erase-1"}
    first = api.app.delete(f"/api/{api.user_id}", headers=key)
    assert first.json["erased"]["tasks"] == 1
    api.created(title="made after the erase")
    again = api.app.delete(f"/api/{api.user_id}", headers=key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert [t["title"] for t in api.app.get(api.base).json] == ["made after the erase"]
