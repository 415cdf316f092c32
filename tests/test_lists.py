"""Lists: CRUD, the inbox, open_count, position order, the 1,000 cap, list_id on tasks."""

from __future__ import annotations

import uuid

import psycopg

MISSING = "00000000-0000-4000-8000-000000000000"


def lists_path(api) -> str:
    return f"/api/{api.user_id}/lists"


def make_list(api, name: str = "Work", **fields) -> dict:
    resp = api.app.post_json(lists_path(api), {"name": name, **fields}, status=201)
    assert resp.headers["Location"].endswith(f"/lists/{resp.json['id']}")
    assert resp.headers["ETag"] == '"1"'
    return resp.json


def test_create_read_and_list_in_position_order(api):
    first = make_list(api, "  Work  ", color="#1E90FF")
    second = make_list(api, "Home")
    assert first["name"] == "Work" and first["color"] == "#1e90ff"
    assert first["open_count"] == 0 and first["version"] == 1
    assert uuid.UUID(first["id"]).version == 4
    assert set(first) == {
        "id",
        "user_id",
        "name",
        "color",
        "position",
        "open_count",
        "version",
        "created_at",
        "updated_at",
    }
    assert second["color"] is None
    listed = api.app.get(lists_path(api)).json
    assert [x["id"] for x in listed] == [first["id"], second["id"]]
    assert first["position"].encode() < second["position"].encode()
    got = api.app.get(f"{lists_path(api)}/{first['id']}")
    assert got.json == first and got.headers["ETag"] == '"1"'
    api.app.get(f"{lists_path(api)}/{first['id']}", headers={"If-None-Match": '"1"'}, status=304)


def test_list_validation(api):
    for body in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "color": "red"},
        {"name": "ok", "color": "#12345"},
        {"name": "ok", "extra": 1},
        {"name": 5},
    ):
        resp = api.app.post_json(lists_path(api), body, status=422)
        assert resp.content_type == "application/problem+json"
    api.app.get(f"{lists_path(api)}/not-a-uuid", status=422)


def test_patch_renames_and_recolours_with_if_match(api):
    made = make_list(api)
    path = f"{lists_path(api)}/{made['id']}"
    same = api.app.patch_json(path, {"name": "Work"}).json
    assert same["version"] == 1
    renamed = api.app.patch_json(
        path, {"name": "Office", "color": "#000000"}, headers={"If-Match": '"1"'}
    )
    assert renamed.json["version"] == 2 and renamed.headers["ETag"] == '"2"'
    api.app.patch_json(path, {"name": "Late"}, headers={"If-Match": '"1"'}, status=412)
    cleared = api.app.patch_json(path, {"color": None}).json
    assert cleared["color"] is None and cleared["version"] == 3
    api.app.patch_json(path, {}, status=422)
    api.app.patch_json(f"{lists_path(api)}/{MISSING}", {"name": "x"}, status=404)


def test_delete_moves_the_list_to_the_trash(api):
    made = make_list(api)
    task = api.created(title="in it", list_id=made["id"])
    resp = api.app.delete(f"{lists_path(api)}/{made['id']}", status=200)
    assert resp.json["id"] == made["id"] and resp.json["batch_id"] == resp.headers["X-Batch-ID"]
    api.app.get(api.item(task["id"]), status=404)
    api.app.get(f"{lists_path(api)}/{made['id']}", status=404)
    api.app.delete(f"{lists_path(api)}/{MISSING}", status=404)


def test_open_count_counts_open_tasks_and_sub_tasks(api):
    made = make_list(api)
    parent = api.created(title="p", list_id=made["id"])
    api.created(title="child", parent_id=parent["id"])
    done = api.created(title="done", list_id=made["id"])
    api.app.patch(api.item(done["id"]) + "/complete")
    api.created(title="inbox task")
    assert api.app.get(f"{lists_path(api)}/{made['id']}").json["open_count"] == 2
    assert api.app.get(lists_path(api)).json[0]["open_count"] == 2


def test_task_list_id_on_create_filter_and_inbox(api):
    work = make_list(api, "Work")
    home = make_list(api, "Home")
    a = api.created(title="a", list_id=work["id"])
    b = api.created(title="b", list_id=home["id"])
    c = api.created(title="c")
    assert a["list_id"] == work["id"] and c["list_id"] is None

    def ids(query: str) -> list[str]:
        return [t["id"] for t in api.app.get(f"{api.base}?{query}").json]

    assert ids(f"list_id={work['id']}") == [a["id"]]
    assert ids(f"list_id={home['id']}") == [b["id"]]
    assert ids("list_id=inbox") == [c["id"]]
    assert ids(f"list_id={MISSING}") == []
    api.app.get(f"{api.base}?list_id=nope", status=422)
    api.app.get(f"{api.base}?list_id=00000000-0000-0000-0000-000000000000", status=422)


def test_unknown_or_foreign_list_is_a_422_naming_list_id(api, other_api):
    foreign = make_list(other_api, "Theirs")
    task = api.created()
    for list_id in (MISSING, foreign["id"]):
        resp = api.create(status=422, list_id=list_id)
        assert [e["field"] for e in resp.json["errors"]] == ["list_id"]
        resp = api.app.patch_json(api.item(task["id"]), {"list_id": list_id}, status=422)
        assert [e["field"] for e in resp.json["errors"]] == ["list_id"]
    # Same answer for a foreign list as for a missing one.
    a = api.create(status=422, list_id=MISSING).json
    b = api.create(status=422, list_id=foreign["id"]).json
    a.pop("request_id"), b.pop("request_id")
    assert a == b


def test_patch_list_id_moves_the_task_with_its_sub_tree(api):
    work = make_list(api, "Work")
    root = api.created(title="root")
    child = api.created(title="child", parent_id=root["id"])
    grandchild = api.created(title="grandchild", parent_id=child["id"])
    moved = api.app.patch_json(api.item(root["id"]), {"list_id": work["id"]}).json
    assert moved["list_id"] == work["id"] and moved["version"] == 2
    for task in (child, grandchild):
        now = api.app.get(api.item(task["id"])).json
        assert now["list_id"] == work["id"] and now["parent_id"] == task["parent_id"]
        assert now["version"] == 2
    # A sub-task moved on its own to another list leaves its parent: top level there.
    back = api.app.patch_json(api.item(child["id"]), {"list_id": None}).json
    assert back["list_id"] is None and back["parent_id"] is None
    assert api.app.get(api.item(grandchild["id"])).json["list_id"] is None
    assert api.app.get(f"{lists_path(api)}/{work['id']}").json["open_count"] == 1


def test_at_most_1000_lists(api, db):
    with db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lists (user_id, name) SELECT %s, 'l' || g FROM generate_series(1, 999) g",
            (api.user_id,),
        )
    db.commit()
    make_list(api, "the 1000th")
    resp = api.app.post_json(lists_path(api), {"name": "one too many"}, status=422)
    assert resp.json["errors"][0]["field"] == ""
    assert len(api.app.get(lists_path(api)).json) == 1000


def test_lists_are_isolated_per_user_on_every_verb(api, other_api):
    theirs = make_list(other_api, "Theirs")
    path = f"{lists_path(api)}/{theirs['id']}"
    missing = f"{lists_path(api)}/{MISSING}"
    for method, body in (("get", None), ("patch_json", {"name": "x"}), ("delete", None)):
        call = getattr(api.app, method)
        got = call(path, body, status=404) if body else call(path, status=404)
        ref = call(missing, body, status=404) if body else call(missing, status=404)
        got_body, ref_body = dict(got.json), dict(ref.json)
        got_body.pop("request_id"), ref_body.pop("request_id")
        assert got_body == ref_body
    assert api.app.get(lists_path(api)).json == []
    assert other_api.app.get(f"{lists_path(other_api)}/{theirs['id']}").json["name"] == "Theirs"


def test_list_create_is_idempotent_with_a_key(api):
    headers = {"Idempotency-Key": "list-key-1"}
    first = api.app.post_json(lists_path(api), {"name": "Once"}, headers=headers, status=201)
    again = api.app.post_json(lists_path(api), {"name": "Once"}, headers=headers, status=201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert len(api.app.get(lists_path(api)).json) == 1


def test_rollback_of_the_migration_keeps_tasks(scratch):
    from service.server import migrate

    url = scratch.create("tasks_lists_rollback")
    applied = migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tasks (user_id, title) VALUES ('u', 'kept')")
    index = applied.index("0004.task-model-v2")
    migrate.rollback(url, count=len(applied) - index)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT title FROM tasks").fetchone()[0] == "kept"
    migrate.apply(url)
    with psycopg.connect(url) as conn:
        position = conn.execute("SELECT position FROM tasks").fetchone()[0]
    assert position.startswith("i")
