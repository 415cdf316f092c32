"""Idempotency-Key: one execution per key, replays, mismatches, in-flight 409s, expiry, races."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from webtest import TestApp

from service.server.bootstrap import build
from tests.conftest import make_config, waiting_on_a_lock


def key() -> str:
    """Return a fresh Idempotency-Key."""
    return f"key-{uuid.uuid4()}"


def keyed(k: str, **more: str) -> dict[str, str]:
    return {"Idempotency-Key": k, **more}


def count_tasks(db, user_id: str) -> int:
    return db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", (user_id,)).fetchone()[
        "n"
    ]


def stored_keys(db, user_id: str) -> list[str]:
    rows = db.execute(
        "SELECT key FROM idempotency_keys WHERE user_id = %s ORDER BY key", (user_id,)
    ).fetchall()
    return [r["key"] for r in rows]


# --- replay ------------------------------------------------------------------------------


def test_repeated_post_creates_once_and_replays_the_answer(api, db):
    k = key()
    first = api.app.post_json(api.base, {"title": "once"}, headers=keyed(k), status=201)
    again = api.app.post_json(api.base, {"title": "once"}, headers=keyed(k), status=201)
    assert count_tasks(db, api.user_id) == 1
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.content_type == "application/json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_a_replay_ignores_json_formatting_and_key_order(api, db):
    k = key()
    api.app.post(
        api.base,
        b'{"title": "t", "priority": "high"}',
        headers=keyed(k),
        content_type="application/json",
    )
    again = api.app.post(
        api.base,
        b'{"priority":"high","title":"t"}',
        headers=keyed(k),
        content_type="application/json",
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_tasks(db, api.user_id) == 1


def test_a_retried_toggle_toggles_once(api, db):
    task = api.created()
    k = key()
    path = api.item(task["id"]) + "/complete"
    first = api.app.patch(path, headers=keyed(k))
    again = api.app.patch(path, headers=keyed(k))
    assert first.json["completed"] is True and again.json == first.json
    row = db.execute("SELECT completed, version FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == {"completed": True, "version": 2}


def test_a_retried_delete_replays_the_deleted_task(api):
    task = api.created()
    k = key()
    first = api.app.delete(api.item(task["id"]), headers=keyed(k), status=200)
    again = api.app.delete(api.item(task["id"]), headers=keyed(k), status=200)
    assert again.json == first.json
    assert first.json["batch_id"] == again.headers["X-Batch-ID"] == first.headers["X-Batch-ID"]
    assert {k: v for k, v in first.json.items() if k not in {"deleted_at", "batch_id"}} == {
        k: v for k, v in task.items() if k != "deleted_at"
    }
    api.app.delete(api.item(task["id"]), headers=keyed(key()), status=404)


@pytest.mark.parametrize("method", ["put_json", "patch_json"])
def test_a_retried_update_is_not_applied_twice(api, method):
    task = api.created(title="v1")
    k = key()
    first = getattr(api.app, method)(api.item(task["id"]), {"title": "v2"}, headers=keyed(k))
    api.app.patch_json(api.item(task["id"]), {"title": "v3"})  # someone else writes meanwhile
    again = getattr(api.app, method)(api.item(task["id"]), {"title": "v2"}, headers=keyed(k))
    assert again.json == first.json and again.json["version"] == 2
    assert api.app.get(api.item(task["id"])).json["title"] == "v3"


def test_requests_without_a_key_are_not_recorded(api, db):
    api.created()
    api.created()
    assert count_tasks(db, api.user_id) == 2
    assert stored_keys(db, api.user_id) == []


# --- mismatch, per-user keys, validation -------------------------------------------------


def test_the_same_key_with_another_body_path_or_method_is_422(api, db):
    task = api.created()
    k = key()
    api.app.patch_json(api.item(task["id"]), {"title": "a"}, headers=keyed(k))
    attempts = [
        lambda: api.app.patch_json(
            api.item(task["id"]), {"title": "b"}, headers=keyed(k), status=422
        ),
        lambda: api.app.put_json(
            api.item(task["id"]), {"title": "a"}, headers=keyed(k), status=422
        ),
        lambda: api.app.patch_json(
            api.item(task["id"]) + "/complete", {"completed": True}, headers=keyed(k), status=422
        ),
        lambda: api.app.post_json(api.base, {"title": "a"}, headers=keyed(k), status=422),
        lambda: api.app.post_json(api.base + "?x=1", {"title": "a"}, headers=keyed(k), status=422),
    ]
    for attempt in attempts:
        resp = attempt()
        assert resp.content_type == "application/problem+json"
        assert resp.json["errors"] == [
            {
                "location": "header",
                "field": "Idempotency-Key",
                "message": resp.json["errors"][0]["message"],
            }
        ]
    assert count_tasks(db, api.user_id) == 1
    assert api.app.get(api.item(task["id"])).json["title"] == "a"


def test_keys_are_per_user(api, other_api, db):
    k = key()
    mine = api.app.post_json(api.base, {"title": "mine"}, headers=keyed(k), status=201)
    theirs = other_api.app.post_json(
        other_api.base, {"title": "theirs"}, headers=keyed(k), status=201
    )
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json["id"] != mine.json["id"]
    assert count_tasks(db, other_api.user_id) == 1


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 256, "caf\u00e9", "tab\there", "bell\x07"],
    ids=["empty", "256", "non-ascii", "tab", "control"],
)
def test_an_invalid_key_is_422_naming_the_header(api, db, bad):
    # webtest refuses non-latin-1 header values; the WSGI environ carries them as latin-1.
    environ = {"HTTP_IDEMPOTENCY_KEY": bad.encode("utf-8").decode("latin-1")}
    resp = api.app.post_json(api.base, {"title": "t"}, extra_environ=environ, status=422)
    assert resp.json["errors"] == [
        {
            "location": "header",
            "field": "Idempotency-Key",
            "message": "Must be 1-255 printable ASCII characters.",
        }
    ]
    assert count_tasks(db, api.user_id) == 0


@pytest.mark.parametrize("good", ["x" * 255, "a", "with space ~!", "550e8400-e29b-41d4"])
def test_a_valid_key_of_any_printable_ascii_is_accepted(api, good):
    api.app.post_json(api.base, {"title": "t"}, headers=keyed(good), status=201)
    again = api.app.post_json(api.base, {"title": "t"}, headers=keyed(good), status=201)
    assert again.headers["Idempotent-Replayed"] == "true"


# --- what is (not) stored ----------------------------------------------------------------


def test_a_failed_request_does_not_store_its_key(api, db):
    task = api.created()
    k = key()
    api.app.patch_json(
        api.item(task["id"]), {"title": "x"}, headers=keyed(k, **{"If-Match": '"9"'}), status=412
    )
    assert stored_keys(db, api.user_id) == []
    resp = api.app.patch_json(
        api.item(task["id"]), {"title": "x"}, headers=keyed(k, **{"If-Match": '"1"'}), status=200
    )
    assert "Idempotent-Replayed" not in resp.headers
    assert stored_keys(db, api.user_id) == [k]


def test_a_body_that_fails_validation_does_not_claim_the_key(api, db):
    k = key()
    api.app.post_json(api.base, {"title": ""}, headers=keyed(k), status=422)
    api.app.post_json(api.base, {"title": "ok"}, headers=keyed(k), status=201)
    assert count_tasks(db, api.user_id) == 1


def test_the_key_and_the_write_commit_together_or_not_at_all(database_url, db, user_id):
    """A request that fails after its write (a 500) leaves neither the write nor the key."""
    rt = build(make_config(database_url))

    class WriteThenFail:
        def __init__(self, store) -> None:
            self.store = store

        def on_post(self, req, resp, user_id):
            self.store.create(user_id, {"title": "half-done"})
            raise RuntimeError("crash after the write")

    from service.data.queries import Queries
    from service.data.tasks import TaskStore

    rt.app.add_route("/api/{user_id}/crash", WriteThenFail(TaskStore(rt.pool, Queries.load())))
    rt.pool.open(wait=True, timeout=10)
    try:
        client = TestApp(rt.app)
        k = key()
        client.post(f"/api/{user_id}/crash", headers=keyed(k), status=500)
        assert count_tasks(db, user_id) == 0
        assert stored_keys(db, user_id) == []
        # Without a key, the same responder's write is autocommitted: the test can fail.
        client.post(f"/api/{user_id}/crash", status=500)
        assert count_tasks(db, user_id) == 1
    finally:
        rt.stop()


# --- expiry ------------------------------------------------------------------------------


def test_an_expired_key_runs_again(api, db):
    k = key()
    api.app.post_json(api.base, {"title": "t"}, headers=keyed(k), status=201)
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = %s",
        (api.user_id,),
    )
    again = api.app.post_json(api.base, {"title": "t"}, headers=keyed(k), status=201)
    assert "Idempotent-Replayed" not in again.headers
    assert count_tasks(db, api.user_id) == 2
    third = api.app.post_json(api.base, {"title": "t"}, headers=keyed(k), status=201)
    assert third.headers["Idempotent-Replayed"] == "true"
    assert third.json["id"] == again.json["id"]


def test_an_expired_key_may_be_reused_for_another_request(api, db):
    k = key()
    api.app.post_json(api.base, {"title": "first"}, headers=keyed(k), status=201)
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = %s",
        (api.user_id,),
    )
    resp = api.app.post_json(api.base, {"title": "second"}, headers=keyed(k), status=201)
    assert resp.json["title"] == "second"


def test_storing_a_key_purges_the_users_expired_keys(api, other_api, db):
    old = [key() for _ in range(3)]
    for k in old:
        api.app.post_json(api.base, {"title": "t"}, headers=keyed(k), status=201)
    other_old = key()
    other_api.app.post_json(other_api.base, {"title": "t"}, headers=keyed(other_old), status=201)
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
        " WHERE user_id IN (%s, %s)",
        (api.user_id, other_api.user_id),
    )
    fresh = key()
    api.app.post_json(api.base, {"title": "t"}, headers=keyed(fresh), status=201)
    assert stored_keys(db, api.user_id) == [fresh]
    assert stored_keys(db, other_api.user_id) == [other_old]  # another user's keys are theirs


# --- in flight and races -----------------------------------------------------------------


def test_a_repeat_while_the_first_is_running_is_409_then_replays(api, database_url, db):
    task = api.created()
    k = key()
    path = api.item(task["id"]) + "/complete"
    # Hold the task's row lock so the first request stops inside its write, key claimed.
    blocker = psycopg.connect(database_url)
    blocker.execute(
        "SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE", (api.user_id, task["id"])
    )
    first_client = TestApp(api.app.app, extra_environ=api.app.extra_environ)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(first_client.patch, path, headers=keyed(k))
        try:
            deadline = time.monotonic() + 5
            while not waiting_on_a_lock(db) and time.monotonic() < deadline:
                time.sleep(0.01)
            second = api.app.patch(path, headers=keyed(k), status=409)
            assert second.content_type == "application/problem+json"
            assert second.headers["Retry-After"] == "1"
        finally:
            blocker.rollback()
            blocker.close()
        assert first.result(timeout=10).status_int == 200
    third = api.app.patch(path, headers=keyed(k), status=200)
    assert third.headers["Idempotent-Replayed"] == "true"
    row = db.execute("SELECT completed, version FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == {"completed": True, "version": 2}


def run_together(app: TestApp, count: int, request) -> list:
    """Run `request(client)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def worker(_: int):
        client = TestApp(app.app, extra_environ=app.extra_environ)
        barrier.wait()
        return request(client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(worker, range(count)))


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_posts_with_one_key_create_one_task(api, db, round_):
    k = key()

    def post(client: TestApp):
        return client.post_json(api.base, {"title": "race"}, headers=keyed(k), expect_errors=True)

    responses = run_together(api.app, 4, post)
    assert count_tasks(db, api.user_id) == 1
    created = [r for r in responses if r.status_int == 201]
    assert {r.status_int for r in responses} <= {201, 409}
    assert len({r.json["id"] for r in created}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_toggles_with_one_key_toggle_once(api, db, round_):
    task = api.created()
    k = key()

    def toggle(client: TestApp):
        return client.patch(
            api.item(task["id"]) + "/complete", headers=keyed(k), expect_errors=True
        )

    responses = run_together(api.app, 4, toggle)
    assert {r.status_int for r in responses} <= {200, 409}
    row = db.execute("SELECT completed, version FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == {"completed": True, "version": 2}


def test_a_key_stored_by_a_racing_request_rolls_this_one_back_with_409(database_url, db, user_id):
    """Between claim and save another request committed the key: nothing of this one stays."""
    rt = build(make_config(database_url))
    k = key()

    class WriteWhileAnotherCommits:
        def __init__(self, store) -> None:
            self.store = store

        def on_post(self, req, resp, user_id):
            self.store.create(user_id, {"title": "loser"})
            with psycopg.connect(database_url, autocommit=True) as other:
                other.execute(
                    "INSERT INTO idempotency_keys (user_id, key, fingerprint, status)"
                    " VALUES (%s, %s, %s, 201)",
                    (user_id, k, b"\0" * 32),
                )
            resp.media = {"ok": True}

    from service.data.queries import Queries
    from service.data.tasks import TaskStore

    rt.app.add_route(
        "/api/{user_id}/race", WriteWhileAnotherCommits(TaskStore(rt.pool, Queries.load()))
    )
    rt.pool.open(wait=True, timeout=10)
    try:
        resp = TestApp(rt.app).post(f"/api/{user_id}/race", headers=keyed(k), status=409)
        assert resp.content_type == "application/problem+json"
        assert "ETag" not in resp.headers
        assert count_tasks(db, user_id) == 0
    finally:
        rt.stop()


@pytest.mark.parametrize("module", ["data/tasks.py", "data/listing.py"])
def test_the_dao_never_borrows_a_connection_around_the_unit_of_work(module):
    """Every DAO statement must run on the request's transaction when one is bound."""
    from service.core.config import PROJECT_ROOT

    source = (PROJECT_ROOT / "service" / module).read_text()
    assert "_pool.connection(" not in source, (
        f"{module} must borrow through unit_of_work.connection(self._pool), or an "
        "Idempotency-Key request would write outside its transaction"
    )


def test_a_toggle_and_a_set_are_different_requests_for_a_key(api):
    task = api.created()
    k = key()
    path = api.item(task["id"]) + "/complete"
    api.app.patch(path, headers=keyed(k), status=200)
    api.app.patch_json(path, {"completed": True}, headers=keyed(k), status=422)
