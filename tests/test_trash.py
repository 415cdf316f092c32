"""The trash: soft deletes in batches, what they hide, its pages, restore, purge, retention."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from service.data.pool import create_pool
from service.data.queries import Queries
from service.jobs.purge_trash import PurgeTrash
from tests.conftest import make_config

QUERIES = Queries.load()
MISSING = "00000000-0000-4000-8000-000000000000"


def trash_path(api) -> str:
    return f"/api/{api.user_id}/trash"


def make_list(api, name: str = "Work") -> dict:
    return api.app.post_json(f"/api/{api.user_id}/lists", {"name": name}).json


def live_ids(api) -> set[str]:
    return {t["id"] for t in api.app.get(f"{api.base}?limit=500").json}


def test_deleting_a_task_trashes_it_with_its_sub_tasks_as_one_batch(api, db):
    parent = api.created(title="parent")
    child = api.created(title="child", parent_id=parent["id"])
    grandchild = api.created(title="grandchild", parent_id=child["id"])
    other = api.created(title="other")
    resp = api.app.delete(api.item(parent["id"]))
    body = resp.json
    assert body["id"] == parent["id"] and body["title"] == "parent"
    assert body["deleted_at"] is not None
    assert uuid.UUID(body["batch_id"]) and resp.headers["X-Batch-ID"] == body["batch_id"]
    rows = db.execute(
        "SELECT id::text, batch_id::text FROM tasks WHERE user_id = %s AND deleted_at IS NOT NULL",
        (api.user_id,),
    ).fetchall()
    assert {r["id"] for r in rows} == {parent["id"], child["id"], grandchild["id"]}
    assert {r["batch_id"] for r in rows} == {body["batch_id"]}
    assert live_ids(api) == {other["id"]}


def test_a_trashed_task_is_a_404_everywhere_under_its_path(api):
    task = api.created(title="gone", completed=False)
    api.app.delete(api.item(task["id"]))
    path = api.item(task["id"])
    api.app.get(path, status=404)
    api.app.put_json(path, {"title": "x"}, status=404)
    api.app.patch_json(path, {"title": "x"}, status=404)
    api.app.delete(path, status=404)
    api.app.patch(f"{path}/complete", status=404)
    api.app.patch_json(f"{path}/complete", {"completed": True}, status=404)
    api.app.post_json(f"{path}/move", {"parent_id": None, "after": None}, status=404)
    missing = api.app.get(api.item(MISSING), status=404).json
    trashed = api.app.get(path, status=404).json
    assert {**trashed, "request_id": None} == {**missing, "request_id": None}


def test_trashed_tasks_leave_search_stats_bulk_changes_and_lists(api, db):
    work = make_list(api)
    kept = api.created(title="kept apple")
    gone = api.created(title="gone apple", list_id=work["id"])
    api.app.delete(api.item(gone["id"]))
    assert [t["id"] for t in api.app.get(f"{api.base}?q=apple").json] == [kept["id"]]
    assert api.app.get(f"/api/{api.user_id}/stats").json["total"] == 1
    assert api.app.get(f"/api/{api.user_id}/lists/{work['id']}").json["open_count"] == 0
    assert api.app.patch_json(api.base, {"completed": True}).json == {"updated": 1}
    still = db.execute(
        "SELECT completed FROM tasks WHERE user_id = %s AND id = %s", (api.user_id, gone["id"])
    ).fetchone()
    assert still["completed"] is False


def test_bulk_delete_trashes_the_matching_tasks_as_one_batch(api):
    done = api.created(title="done", completed=True)
    api.created(title="open")
    body = api.app.delete(f"{api.base}?status=completed").json
    assert body["deleted"] == 1 and uuid.UUID(body["batch_id"])
    entries = api.app.get(trash_path(api)).json
    assert [(e["kind"], e["data"]["id"], e["batch_id"]) for e in entries] == [
        ("task", done["id"], body["batch_id"])
    ]
    again = api.app.delete(api.base).json
    assert again["deleted"] == 1 and again["batch_id"] != body["batch_id"]
    assert api.app.get(api.base).json == []


def test_deleting_a_list_trashes_it_with_its_tasks_and_restore_brings_all_back(api):
    work = make_list(api)
    task = api.created(title="in work", list_id=work["id"])
    sub = api.created(title="sub", parent_id=task["id"])
    resp = api.app.delete(f"/api/{api.user_id}/lists/{work['id']}")
    batch = resp.headers["X-Batch-ID"]
    assert resp.json["id"] == work["id"] and resp.json["batch_id"] == batch
    assert resp.json["deleted_at"] is not None
    api.app.get(f"/api/{api.user_id}/lists/{work['id']}", status=404)
    assert api.app.get(f"/api/{api.user_id}/lists").json == []
    assert live_ids(api) == set()
    entries = api.app.get(trash_path(api)).json
    assert {(e["kind"], e["data"]["id"]) for e in entries} == {
        ("list", work["id"]),
        ("task", task["id"]),
        ("task", sub["id"]),
    }
    listed = next(e for e in entries if e["kind"] == "list")
    assert listed["data"]["open_count"] == 2 and listed["data"]["name"] == "Work"
    restored = api.app.post(f"{trash_path(api)}/{batch}/restore").json
    assert restored == {"restored": 3}
    assert api.app.get(f"/api/{api.user_id}/lists/{work['id']}").json["open_count"] == 2
    assert live_ids(api) == {task["id"], sub["id"]}
    assert api.app.get(trash_path(api)).json == []
    api.app.post(f"{trash_path(api)}/{batch}/restore", status=404)


def test_list_delete_honours_if_match(api):
    work = make_list(api)
    path = f"/api/{api.user_id}/lists/{work['id']}"
    api.app.delete(path, headers={"If-Match": '"7"'}, status=412)
    api.app.delete(path, headers={"If-Match": '"1"'}, status=200)
    api.app.delete(path, status=404)


def test_restoring_a_sub_task_brings_back_its_trashed_parent_and_list(api):
    work = make_list(api)
    parent = api.created(title="parent", list_id=work["id"])
    child = api.created(title="child", parent_id=parent["id"])
    child_batch = api.app.delete(api.item(child["id"])).headers["X-Batch-ID"]
    list_batch = api.app.delete(f"/api/{api.user_id}/lists/{work['id']}").headers["X-Batch-ID"]
    assert api.app.post(f"{trash_path(api)}/{child_batch}/restore").json == {"restored": 3}
    assert live_ids(api) == {parent["id"], child["id"]}
    got = api.app.get(api.item(child["id"])).json
    assert got["parent_id"] == parent["id"] and got["list_id"] == work["id"]
    # The list's batch keeps nothing more: restoring it again finds nothing.
    api.app.post(f"{trash_path(api)}/{list_batch}/restore", status=404)


def test_the_trash_pages_newest_deletion_first_with_a_signed_cursor(api, other_api):
    made = [api.created(title=f"t{i}") for i in range(5)]
    for task in made:
        api.app.delete(api.item(task["id"]))
    seen: list[str] = []
    url = f"{trash_path(api)}?limit=2"
    pages = 0
    while url:
        resp = api.app.get(url)
        pages += 1
        seen += [e["data"]["id"] for e in resp.json]
        assert all(e["data"]["url"].endswith(e["data"]["id"]) for e in resp.json)
        link = resp.headers.get("Link")
        url = (
            link[link.index("<") + 1 : link.index(">")].removeprefix("http://tasks.test")
            if link
            else None
        )
        if url:
            cursor = url.split("cursor=")[1]
            # Another user's cursor, or an altered one: a 422 naming cursor.
            foreign = other_api.app.get(f"{trash_path(other_api)}?cursor={cursor}", status=422)
            assert foreign.json["errors"][0]["field"] == "cursor"
            altered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
            bad = api.app.get(f"{trash_path(api)}?cursor={altered}", status=422)
            assert bad.json["errors"][0]["field"] == "cursor"
    assert pages == 3
    assert seen == [t["id"] for t in reversed(made)]


def test_purge_of_a_batch_and_of_the_whole_trash(api, db):
    one = api.created(title="one")
    two = api.created(title="two")
    three = api.created(title="three", parent_id=two["id"])
    first = api.app.delete(api.item(one["id"])).headers["X-Batch-ID"]
    api.app.delete(api.item(two["id"]))
    assert api.app.delete(f"{trash_path(api)}/{first}").json == {"purged": 1}
    api.app.delete(f"{trash_path(api)}/{first}", status=404)
    api.app.post(f"{trash_path(api)}/{first}/restore", status=404)
    assert api.app.delete(trash_path(api)).json == {"purged": 2}
    assert api.app.delete(trash_path(api)).json == {"purged": 0}
    left = db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", (api.user_id,))
    assert left.fetchone()["n"] == 0
    assert three["parent_id"] == two["id"]


def test_another_users_batch_is_a_missing_one(api, other_api):
    task = api.created()
    batch = api.app.delete(api.item(task["id"])).headers["X-Batch-ID"]
    other_api.app.post(f"{trash_path(other_api)}/{batch}/restore", status=404)
    other_api.app.delete(f"{trash_path(other_api)}/{batch}", status=404)
    assert other_api.app.get(trash_path(other_api)).json == []
    assert other_api.app.delete(trash_path(other_api)).json == {"purged": 0}
    assert api.app.post(f"{trash_path(api)}/{batch}/restore").json == {"restored": 1}


def test_a_malformed_batch_id_is_a_422(api):
    resp = api.app.post(f"{trash_path(api)}/not-a-uuid/restore", status=422)
    assert resp.json["errors"][0]["field"] == "batch_id"


@pytest.fixture(scope="module")
def pool(database_url):
    pool = create_pool(make_config(database_url, POOL_MIN_SIZE="0"), QUERIES)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


def test_the_retention_purge_removes_old_batches_only(api, other_api, db, pool):
    old = api.created(title="old")
    fresh = api.created(title="fresh")
    work = make_list(other_api)
    other_api.created(title="in old list", list_id=work["id"])
    api.app.delete(api.item(old["id"]))
    api.app.delete(api.item(fresh["id"]))
    other_api.app.delete(f"/api/{other_api.user_id}/lists/{work['id']}")
    for table, user, key in (
        ("tasks", api.user_id, old["id"]),
        ("lists", other_api.user_id, work["id"]),
    ):
        db.execute(
            f"UPDATE {table} SET deleted_at = deleted_at - %s WHERE user_id = %s AND id = %s",
            (timedelta(days=31), user, key),
        )
    db.execute(
        "UPDATE tasks SET deleted_at = deleted_at - %s WHERE user_id = %s",
        (timedelta(days=31), other_api.user_id),
    )
    job = PurgeTrash(pool, QUERIES, retention_days=30)
    stopping = threading.Event()
    while job.run_once(stopping):
        pass
    assert [e["data"]["id"] for e in api.app.get(trash_path(api)).json] == [fresh["id"]]
    assert other_api.app.get(trash_path(other_api)).json == []
