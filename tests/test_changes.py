"""The changes feed: full and incremental sync, deletions, cursors, the 410, commit order."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.data.pool import create_pool
from service.data.queries import Queries
from service.data.recurrence import recurrence_params
from service.data.tasks import WRITABLE_FIELDS
from service.jobs.purge_tombstones import PurgeTombstones
from tests.conftest import make_config, waiting_on_a_lock

QUERIES = Queries.load()


def changes_path(api) -> str:
    return f"/api/{api.user_id}/changes"


def sync(api, cursor: str | None = None, limit: int = 1000) -> tuple[list[dict], str]:
    """Follow the feed from `cursor` until has_more is false; return the changes and cursor."""
    seen: list[dict] = []
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = api.app.get(changes_path(api) + query).json
        seen += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return seen, cursor


def make_list(api, name: str = "Work") -> dict:
    return api.app.post_json(f"/api/{api.user_id}/lists", {"name": name}).json


def test_a_full_sync_sends_every_task_and_list_then_only_what_changed(api):
    work = make_list(api)
    first = api.created(title="first", list_id=work["id"])
    second = api.created(title="second")
    changes, cursor = sync(api)
    assert [(c["kind"], c["id"], c["op"]) for c in changes] == [
        ("list", work["id"], "upsert"),
        ("task", first["id"], "upsert"),
        ("task", second["id"], "upsert"),
    ]
    assert changes[1]["data"] == api.app.get(api.item(first["id"])).json
    assert changes[0]["data"] == api.app.get(f"/api/{api.user_id}/lists/{work['id']}").json
    assert changes[0]["data"]["open_count"] == 1
    assert sync(api, cursor)[0] == []
    api.app.patch_json(api.item(second["id"]), {"title": "second, renamed"})
    api.app.patch_json(api.item(second["id"]), {"priority": "high"})
    changes, cursor = sync(api, cursor)
    # One entry per object: its latest state.
    assert [(c["id"], c["data"]["title"], c["data"]["priority"]) for c in changes] == [
        (second["id"], "second, renamed", "high")
    ]
    assert sync(api, cursor)[0] == []


def test_deletions_come_as_deletes_and_a_restore_as_an_upsert(api):
    work = make_list(api)
    task = api.created(title="in work", list_id=work["id"])
    _, cursor = sync(api)
    batch = api.app.delete(f"/api/{api.user_id}/lists/{work['id']}").headers["X-Batch-ID"]
    changes, after_delete = sync(api, cursor)
    assert {(c["kind"], c["id"], c["op"], c["data"]) for c in changes} == {
        ("list", work["id"], "delete", None),
        ("task", task["id"], "delete", None),
    }
    api.app.post(f"/api/{api.user_id}/trash/{batch}/restore")
    changes, after_restore = sync(api, after_delete)
    assert {(c["kind"], c["id"], c["op"]) for c in changes} == {
        ("list", work["id"], "upsert"),
        ("task", task["id"], "upsert"),
    }
    batch = api.app.delete(api.item(task["id"])).headers["X-Batch-ID"]
    api.app.delete(f"/api/{api.user_id}/trash/{batch}")
    changes, _ = sync(api, after_restore)
    assert [(c["id"], c["op"]) for c in changes] == [(task["id"], "delete")]
    # A client that last synced before the task existed learns of its purge too.
    assert (task["id"], "delete") in {(c["id"], c["op"]) for c in sync(api, cursor)[0]}


def test_pages_follow_limit_and_has_more(api):
    made = [api.created(title=f"t{i}")["id"] for i in range(5)]
    body = api.app.get(changes_path(api) + "?limit=2").json
    assert body["has_more"] is True and len(body["changes"]) == 2
    changes, _ = sync(api, limit=2)
    assert [c["id"] for c in changes] == made
    # A bulk write stamps many rows with one counter value; pages split it by (kind, id).
    api.app.patch_json(api.base, {"completed": True})
    _, cursor = sync(api, limit=2)
    assert sync(api, cursor, limit=2)[0] == []


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_bad_limit_is_a_422(api, limit):
    resp = api.app.get(changes_path(api) + f"?limit={limit}", status=422)
    assert resp.json["errors"][0]["field"] == "limit"


def test_a_foreign_or_altered_cursor_is_a_422_naming_cursor(api, other_api):
    api.created()
    _, cursor = sync(api)
    foreign = other_api.app.get(changes_path(other_api) + f"?cursor={cursor}", status=422)
    assert foreign.json["errors"][0]["field"] == "cursor"
    payload, mac = cursor.split(".")
    altered = f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}"
    resp = api.app.get(changes_path(api) + f"?cursor={altered}", status=422)
    assert resp.json["errors"][0]["field"] == "cursor"
    # A trash cursor is not a feed cursor.
    for _ in range(3):
        api.app.delete(api.item(api.created()["id"]))
    link = api.app.get(f"/api/{api.user_id}/trash?limit=1").headers["Link"]
    trash_cursor = link.split("cursor=")[1].split(">")[0]
    resp = api.app.get(changes_path(api) + f"?cursor={trash_cursor}", status=422)
    assert resp.json["errors"][0]["field"] == "cursor"


@pytest.fixture(scope="module")
def pool(database_url):
    pool = create_pool(make_config(database_url, POOL_MIN_SIZE="0"), QUERIES)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


def test_a_cursor_older_than_the_purged_tombstones_is_gone(api, db, pool):
    task = api.created()
    _, old = sync(api)
    batch = api.app.delete(api.item(task["id"])).headers["X-Batch-ID"]
    api.app.delete(f"/api/{api.user_id}/trash/{batch}")
    _, recent = sync(api, old)
    db.execute(
        "UPDATE change_tombstones SET deleted_at = deleted_at - %s WHERE user_id = %s",
        (timedelta(days=91), api.user_id),
    )
    job = PurgeTombstones(pool, QUERIES)
    while job.run_once(threading.Event()):
        pass
    resp = api.app.get(changes_path(api) + f"?cursor={old}", status=410)
    assert resp.content_type == "application/problem+json"
    assert resp.json["type"].endswith("cursor-expired") and resp.json["status"] == 410
    # A cursor that had already seen the purge is still good, and so is a fresh sync.
    assert sync(api, recent)[0] == []
    assert sync(api)[0] == []


def test_a_later_commit_of_an_earlier_started_transaction_is_never_missed(api, database_url):
    """Two writers of one user: the one that started first commits last; no change is lost.

    With counter values taken when a statement runs (a sequence, a timestamp) the writer that
    started first would hold the lower value, commit after the reader passed the higher one,
    and be skipped for good. The counter's row lock makes it wait and take the higher value.
    """
    early = api.created(title="early")
    late = api.created(title="late")
    _, cursor = sync(api)
    update = QUERIES["task_update"]

    def params(task_id: str, title: str) -> dict:
        # The parameters TaskStore._write gives task_update for {"title": title}.
        values = {
            "user_id": api.user_id,
            "task_id": task_id,
            "if_versions": None,
            "cascade": False,
            "completion_id": uuid.uuid4(),
            "set_due_date_start": False,
            "due_date_start": None,
            "finish_series": False,
            **recurrence_params({}),
            "tasks_url": "http://tasks.test/api/x/tasks",
        }
        for name in WRITABLE_FIELDS:
            values[f"set_{name}"] = name == "title"
            values[name] = title if name == "title" else None
        return values

    with (
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url) as second,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        first.execute("SELECT 1")  # the first transaction starts
        second.execute(update, params(late["id"], "late, changed"))
        done = threading.Event()
        outcome: dict[str, object] = {}

        def first_writes() -> None:
            try:
                first.execute(update, params(early["id"], "early, changed"))
            except Exception as error:
                outcome["error"] = error
            done.set()

        thread = threading.Thread(target=first_writes)
        thread.start()
        deadline = time.monotonic() + 5
        while not waiting_on_a_lock(watcher) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting_on_a_lock(watcher), "the first writer did not wait for the counter"
        assert not done.is_set()
        second.commit()  # the later-started transaction commits first
        assert done.wait(5) and "error" not in outcome
        # A reader syncs between the two commits: it sees the second writer's change only.
        changes, cursor = sync(api, cursor)
        assert [(c["id"], c["data"]["title"]) for c in changes] == [(late["id"], "late, changed")]
        first.commit()  # the earlier-started transaction commits last
        thread.join()
    changes, _ = sync(api, cursor)
    assert [(c["id"], c["data"]["title"]) for c in changes] == [(early["id"], "early, changed")]


# -- the property: concurrent writers and a syncing reader end with equal copies ------------

OPERATIONS = st.sampled_from(
    [
        "create",
        "delete_and_purge",
        "delete_and_purge",
        "create",
        "create_sub",
        "create_in_list",
        "rename",
        "toggle",
        "delete",
        "restore",
        "purge",
        "make_list",
        "rename_list",
        "delete_list",
        "complete_all",
        "delete_completed",
        "move_to_inbox",
    ]
)


def apply(app, user: str, op: str, rng: int, state: dict) -> None:
    """Run one random write of `user` through the API; refusals (404, 422) are fine."""
    base = f"/api/{user}"
    tasks, lists, batches = state["tasks"], state["lists"], state["batches"]

    def pick(items: list[str]) -> str | None:
        return items[rng % len(items)] if items else None

    if op == "create":
        tasks.append(app.post_json(f"{base}/tasks", {"title": f"t{rng}"}).json["id"])
    elif op == "create_sub" and tasks:
        resp = app.post_json(
            f"{base}/tasks", {"title": f"s{rng}", "parent_id": pick(tasks)}, expect_errors=True
        )
        if resp.status_int == 201:
            tasks.append(resp.json["id"])
    elif op == "create_in_list" and lists:
        resp = app.post_json(
            f"{base}/tasks", {"title": f"l{rng}", "list_id": pick(lists)}, expect_errors=True
        )
        if resp.status_int == 201:
            tasks.append(resp.json["id"])
    elif op == "rename" and tasks:
        app.patch_json(f"{base}/tasks/{pick(tasks)}", {"title": f"r{rng}"}, expect_errors=True)
    elif op == "toggle" and tasks:
        app.patch(f"{base}/tasks/{pick(tasks)}/complete", expect_errors=True)
    elif op == "delete" and tasks:
        resp = app.delete(f"{base}/tasks/{pick(tasks)}", expect_errors=True)
        if resp.status_int == 200:
            batches.append(resp.headers["X-Batch-ID"])
    elif op == "delete_and_purge" and tasks:
        resp = app.delete(f"{base}/tasks/{pick(tasks)}", expect_errors=True)
        if resp.status_int == 200:
            app.delete(f"{base}/trash/{resp.headers['X-Batch-ID']}")
    elif op == "restore" and batches:
        app.post(f"{base}/trash/{pick(batches)}/restore", expect_errors=True)
    elif op == "purge" and batches:
        app.delete(f"{base}/trash/{pick(batches)}", expect_errors=True)
    elif op == "make_list":
        resp = app.post_json(f"{base}/lists", {"name": f"L{rng}"}, expect_errors=True)
        if resp.status_int == 201:
            lists.append(resp.json["id"])
    elif op == "rename_list" and lists:
        app.patch_json(f"{base}/lists/{pick(lists)}", {"name": f"N{rng}"}, expect_errors=True)
    elif op == "delete_list" and lists:
        resp = app.delete(f"{base}/lists/{pick(lists)}", expect_errors=True)
        if resp.status_int == 200:
            batches.append(resp.headers["X-Batch-ID"])
    elif op == "complete_all":
        app.patch_json(f"{base}/tasks", {"completed": True})
    elif op == "delete_completed":
        batches.append(app.delete(f"{base}/tasks?status=completed").json["batch_id"])
    elif op == "move_to_inbox" and tasks:
        app.post_json(
            f"{base}/tasks/{pick(tasks)}/move",
            {"list_id": None, "parent_id": None, "after": None},
            expect_errors=True,
        )


def server_state(app, user: str) -> dict[tuple[str, str], dict]:
    """Return every live task and list of `user` as GET returns them (lists sans open_count)."""
    state: dict[tuple[str, str], dict] = {}
    url: str | None = f"/api/{user}/tasks?limit=500"
    while url:
        resp = app.get(url)
        for task in resp.json:
            state[("task", task["id"])] = task
        link = resp.headers.get("Link")
        url = (
            link[link.index("<") + 1 : link.index(">")].split("tasks.test", 1)[1] if link else None
        )
    for found in app.get(f"/api/{user}/lists").json:
        found.pop("open_count")
        state[("list", found["id"])] = found
    return state


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    writers=st.lists(
        st.lists(st.tuples(OPERATIONS, st.integers(0, 1000)), min_size=5, max_size=15),
        min_size=2,
        max_size=3,
    ),
    page=st.integers(1, 7),
)
def test_a_reader_syncing_while_writers_write_ends_with_the_servers_state(app, writers, page):
    user = f"sync-{uuid.uuid4().hex[:12]}"
    copy: dict[tuple[str, str], dict] = {}
    cursor: list[str | None] = [None]
    stop = threading.Event()
    failures: list[BaseException] = []

    def read_once() -> bool:
        query = f"?limit={page}" + (f"&cursor={cursor[0]}" if cursor[0] else "")
        body = app.get(f"/api/{user}/changes{query}").json
        for change in body["changes"]:
            key = (change["kind"], change["id"])
            if change["op"] == "upsert":
                copy[key] = change["data"]
            else:
                copy.pop(key, None)
        cursor[0] = body["cursor"]
        return body["has_more"]

    def reader() -> None:
        try:
            while not stop.is_set():
                read_once()
        except BaseException as error:
            failures.append(error)

    # A second client syncs once while the writers are half done, then once at the end: it
    # misses the deletions' trash window, so it needs the purges' tombstones.
    late_copy: dict[tuple[str, str], dict] = {}
    late_cursor: list[str | None] = [None]

    def late_sync() -> None:
        while True:
            query = "?limit=1000" + (f"&cursor={late_cursor[0]}" if late_cursor[0] else "")
            body = app.get(f"/api/{user}/changes{query}").json
            for change in body["changes"]:
                key = (change["kind"], change["id"])
                if change["op"] == "upsert":
                    late_copy[key] = change["data"]
                else:
                    late_copy.pop(key, None)
            late_cursor[0] = body["cursor"]
            if not body["has_more"]:
                return

    def writer(operations: list[tuple[str, int]], first: bool) -> None:
        state: dict = {"tasks": [], "lists": [], "batches": []}
        try:
            for number, (op, rng) in enumerate(operations):
                if first and number == len(operations) // 2:
                    late_sync()
                apply(app, user, op, rng, state)
        except BaseException as error:
            failures.append(error)

    threads = [
        threading.Thread(target=writer, args=(ops, number == 0))
        for number, ops in enumerate(writers)
    ]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    assert failures == []
    while read_once():
        pass
    late_sync()
    expected = server_state(app, user)
    # A list's open_count is counted when the feed is read; a task's change does not send
    # its list again, so a replayed copy may hold an older count.
    for replayed in (copy, late_copy):
        for (kind, _), data in replayed.items():
            if kind == "list":
                data.pop("open_count", None)
    assert copy == expected
    assert late_copy == expected


def test_after_an_erase_old_cursors_are_gone_and_a_fresh_sync_is_empty(api):
    api.created()
    make_list(api)
    _, cursor = sync(api)
    api.app.delete(f"/api/{api.user_id}")
    resp = api.app.get(changes_path(api) + f"?cursor={cursor}", status=410)
    assert resp.json["type"].endswith("cursor-expired")
    assert sync(api)[0] == []
    task = api.created(title="after")
    changes, _ = sync(api)
    assert [(c["id"], c["op"]) for c in changes] == [(task["id"], "upsert")]
